ALTER TABLE "attempts" ADD COLUMN "copy" integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "attempts" ADD COLUMN "verdict" text;--> statement-breakpoint
ALTER TABLE "attempts" ADD COLUMN "result_key" text;--> statement-breakpoint
ALTER TABLE "subtasks" ADD COLUMN "votes" jsonb;