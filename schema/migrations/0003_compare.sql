ALTER TABLE "attempts" ADD COLUMN "role" text DEFAULT 'copy' NOT NULL;--> statement-breakpoint
ALTER TABLE "attempts" ADD COLUMN "comparisons" jsonb;