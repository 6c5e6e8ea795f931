// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";

/// A GLM-like ERC-20 for the local development chain: 18 decimals, minted by its owner.
/// On a real network Golemflow uses the real GLM token instead.
contract GLM is ERC20, Ownable {
    constructor() ERC20("Golem Network Token (local)", "GLM") Ownable(msg.sender) {}

    function mint(address to, uint256 amount) external onlyOwner {
        _mint(to, amount);
    }
}
