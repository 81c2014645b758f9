-- Diagnostic branching beyond 0002: the task lane a branch keeps while
-- another is active, a running summary of what each branch tried and
-- learned (for its siblings' prompts, kept without a model call), why a
-- branch was ruled out, and the order of a fork's options.

ALTER TABLE branches ADD COLUMN task_lane JSONB;
ALTER TABLE branches ADD COLUMN summary TEXT NOT NULL DEFAULT '';
ALTER TABLE branches ADD COLUMN ruled_out_reason TEXT;
ALTER TABLE branches ADD COLUMN position BIGINT NOT NULL DEFAULT 0;

CREATE INDEX turns_by_branch ON turns (account_id, branch_id, id);
