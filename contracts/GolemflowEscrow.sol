// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";

/// Escrow for Golemflow jobs. A requestor locks a job's budget (an allocation); each accepted
/// result is released to its provider under a unique payment id, never twice and never beyond
/// what is locked; only the requestor or the payer it names may release; the remainder goes
/// back to the requestor when the job ends, or to anyone's call after the deadline.
contract GolemflowEscrow {
    using SafeERC20 for IERC20;

    struct Allocation {
        address requestor;
        address payer;
        uint256 locked;
        uint256 released;
        uint64 deadline;
        bool closed;
    }

    IERC20 public immutable token;
    mapping(bytes32 => Allocation) public allocations;
    /// payment id => allocation it was paid from (zero: not paid).
    mapping(bytes32 => bytes32) public paidFrom;

    event Locked(bytes32 indexed allocationId, address indexed requestor, address payer, uint256 amount, uint64 deadline);
    event Increased(bytes32 indexed allocationId, uint256 amount, uint256 locked);
    event Released(bytes32 indexed allocationId, bytes32 indexed paymentId, address indexed provider, uint256 amount);
    event Closed(bytes32 indexed allocationId, uint256 returned);

    error AllocationExists(bytes32 allocationId);
    error UnknownAllocation(bytes32 allocationId);
    error AllocationClosed(bytes32 allocationId);
    error NotAllowed(address caller);
    error AlreadyPaid(bytes32 paymentId);
    error OverBudget(uint256 requested, uint256 available);
    error BadInput(string what);
    error DeadlineNotReached(uint64 deadline);

    constructor(IERC20 token_) {
        token = token_;
    }

    /// Locks `amount` of the caller's tokens (approved beforehand) for a job.
    function lock(bytes32 allocationId, uint256 amount, uint64 deadline, address payer) external {
        if (allocations[allocationId].requestor != address(0)) revert AllocationExists(allocationId);
        if (amount == 0) revert BadInput("amount is zero");
        if (deadline <= block.timestamp) revert BadInput("deadline is in the past");
        allocations[allocationId] = Allocation(msg.sender, payer, amount, 0, deadline, false);
        token.safeTransferFrom(msg.sender, address(this), amount);
        emit Locked(allocationId, msg.sender, payer, amount, deadline);
    }

    /// Raises a job's budget; only its requestor.
    function increase(bytes32 allocationId, uint256 amount) external {
        Allocation storage a = _open(allocationId);
        if (msg.sender != a.requestor) revert NotAllowed(msg.sender);
        a.locked += amount;
        token.safeTransferFrom(msg.sender, address(this), amount);
        emit Increased(allocationId, amount, a.locked);
    }

    /// Pays accepted results, several in one transaction. Reverts as a whole when any payment
    /// id was paid before, or the total goes beyond what is locked.
    function release(bytes32 allocationId, bytes32[] calldata paymentIds, address[] calldata providers, uint256[] calldata amounts) external {
        Allocation storage a = _open(allocationId);
        if (msg.sender != a.requestor && msg.sender != a.payer) revert NotAllowed(msg.sender);
        if (paymentIds.length != providers.length || paymentIds.length != amounts.length) revert BadInput("lengths differ");
        uint256 total;
        for (uint256 i = 0; i < paymentIds.length; i++) {
            if (paidFrom[paymentIds[i]] != bytes32(0)) revert AlreadyPaid(paymentIds[i]);
            paidFrom[paymentIds[i]] = allocationId;
            total += amounts[i];
        }
        if (a.released + total > a.locked) revert OverBudget(total, a.locked - a.released);
        a.released += total;
        for (uint256 i = 0; i < paymentIds.length; i++) {
            token.safeTransfer(providers[i], amounts[i]);
            emit Released(allocationId, paymentIds[i], providers[i], amounts[i]);
        }
    }

    /// Ends an allocation and returns the remainder to the requestor: by the requestor or payer
    /// at any time, by anyone after the deadline.
    function close(bytes32 allocationId) external {
        Allocation storage a = _open(allocationId);
        if (msg.sender != a.requestor && msg.sender != a.payer && block.timestamp < a.deadline) revert DeadlineNotReached(a.deadline);
        a.closed = true;
        uint256 remainder = a.locked - a.released;
        if (remainder > 0) token.safeTransfer(a.requestor, remainder);
        emit Closed(allocationId, remainder);
    }

    function isPaid(bytes32 paymentId) external view returns (bool) {
        return paidFrom[paymentId] != bytes32(0);
    }

    function _open(bytes32 allocationId) private view returns (Allocation storage a) {
        a = allocations[allocationId];
        if (a.requestor == address(0)) revert UnknownAllocation(allocationId);
        if (a.closed) revert AllocationClosed(allocationId);
    }
}
