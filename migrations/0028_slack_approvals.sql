-- Approvals decided in Slack (api/channels/slack/approvals.py): the approver presses Approve or Deny in the
-- message the bot sent them; the decision records how it was taken.
ALTER TABLE workflow_approvals DROP CONSTRAINT workflow_approvals_decided_via_check;
ALTER TABLE workflow_approvals ADD CONSTRAINT workflow_approvals_decided_via_check
    CHECK (decided_via IN ('api', 'link', 'timeout', 'slack'));
