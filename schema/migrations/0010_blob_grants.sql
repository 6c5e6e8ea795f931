CREATE TABLE "blob_grants" (
	"ref" text NOT NULL,
	"holder" text NOT NULL,
	"size" bigint NOT NULL,
	"via" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "blob_grants_ref_holder_pk" PRIMARY KEY("ref","holder")
);
--> statement-breakpoint
CREATE INDEX "blob_grants_holder_idx" ON "blob_grants" USING btree ("holder","via");