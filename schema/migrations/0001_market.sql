CREATE TABLE "agreements" (
	"id" text PRIMARY KEY NOT NULL,
	"job_id" text NOT NULL,
	"subtask_index" integer NOT NULL,
	"attempt" integer NOT NULL,
	"provider_id" text NOT NULL,
	"requestor_id" text NOT NULL,
	"state" text DEFAULT 'proposed' NOT NULL,
	"pricing" jsonb NOT NULL,
	"max_duration_seconds" integer NOT NULL,
	"explanation" jsonb NOT NULL,
	"decision_reason" text,
	"proposed_at" timestamp with time zone DEFAULT now() NOT NULL,
	"decided_at" timestamp with time zone,
	"ended_at" timestamp with time zone,
	"ended_by" text,
	"end_reason" text
);
--> statement-breakpoint
ALTER TABLE "attempts" ADD COLUMN "agreement_id" text;--> statement-breakpoint
ALTER TABLE "jobs" ADD COLUMN "requestor_id" text DEFAULT 'requestor' NOT NULL;--> statement-breakpoint
ALTER TABLE "providers" ADD COLUMN "offer" jsonb;--> statement-breakpoint
ALTER TABLE "providers" ADD COLUMN "online_seconds" double precision DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "subtasks" ADD COLUMN "note" text;--> statement-breakpoint
ALTER TABLE "agreements" ADD CONSTRAINT "agreements_job_id_jobs_id_fk" FOREIGN KEY ("job_id") REFERENCES "public"."jobs"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "agreements_job_idx" ON "agreements" USING btree ("job_id","subtask_index");--> statement-breakpoint
CREATE INDEX "agreements_provider_state_idx" ON "agreements" USING btree ("provider_id","state");