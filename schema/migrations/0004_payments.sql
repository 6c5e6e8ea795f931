CREATE TABLE "allocations" (
	"job_id" text PRIMARY KEY NOT NULL,
	"allocation_id" text NOT NULL,
	"chain_id" integer NOT NULL,
	"escrow" text NOT NULL,
	"token" text NOT NULL,
	"requestor" text NOT NULL,
	"state" text DEFAULT 'pending' NOT NULL,
	"locked_wei" numeric(78, 0) DEFAULT '0' NOT NULL,
	"released_wei" numeric(78, 0) DEFAULT '0' NOT NULL,
	"returned_wei" numeric(78, 0),
	"deadline" timestamp with time zone NOT NULL,
	"lock_tx" text,
	"close_tx" text,
	"note" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"closed_at" timestamp with time zone
);
--> statement-breakpoint
CREATE TABLE "chain_txs" (
	"hash" text PRIMARY KEY NOT NULL,
	"chain_id" integer NOT NULL,
	"account" text NOT NULL,
	"nonce" integer NOT NULL,
	"kind" text NOT NULL,
	"job_id" text,
	"payment_ids" jsonb DEFAULT '[]'::jsonb NOT NULL,
	"raw" text NOT NULL,
	"max_fee_per_gas" numeric(78, 0) NOT NULL,
	"status" text DEFAULT 'signed' NOT NULL,
	"block_number" bigint,
	"replaced_by" text,
	"error" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"mined_at" timestamp with time zone
);
--> statement-breakpoint
CREATE TABLE "deployments" (
	"chain_id" integer NOT NULL,
	"name" text NOT NULL,
	"address" text NOT NULL,
	"source_hash" text NOT NULL,
	"deployed_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "deployments_chain_id_name_source_hash_pk" PRIMARY KEY("chain_id","name","source_hash")
);
--> statement-breakpoint
CREATE TABLE "invoices" (
	"payment_id" text PRIMARY KEY NOT NULL,
	"job_id" text NOT NULL,
	"subtask_index" integer NOT NULL,
	"attempt" integer NOT NULL,
	"provider_id" text NOT NULL,
	"provider_address" text,
	"agreement_id" text,
	"amount_wei" numeric(78, 0) NOT NULL,
	"basis" jsonb NOT NULL,
	"status" text NOT NULL,
	"reason" text,
	"tx_hash" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"paid_at" timestamp with time zone
);
--> statement-breakpoint
ALTER TABLE "allocations" ADD CONSTRAINT "allocations_job_id_jobs_id_fk" FOREIGN KEY ("job_id") REFERENCES "public"."jobs"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "invoices" ADD CONSTRAINT "invoices_job_id_jobs_id_fk" FOREIGN KEY ("job_id") REFERENCES "public"."jobs"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "chain_txs_account_nonce_idx" ON "chain_txs" USING btree ("account","nonce");--> statement-breakpoint
CREATE INDEX "chain_txs_job_idx" ON "chain_txs" USING btree ("job_id");--> statement-breakpoint
CREATE INDEX "invoices_job_idx" ON "invoices" USING btree ("job_id","status");--> statement-breakpoint
CREATE INDEX "invoices_provider_idx" ON "invoices" USING btree ("provider_id");