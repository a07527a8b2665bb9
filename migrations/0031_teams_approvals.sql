-- Approvals decided in Microsoft Teams (api/channels/teams/approvals.py): the approver presses Approve or Deny on
-- the Adaptive Card the bot sent them; the decision records how it was taken.
ALTER TABLE workflow_approvals DROP CONSTRAINT workflow_approvals_decided_via_check;
ALTER TABLE workflow_approvals ADD CONSTRAINT workflow_approvals_decided_via_check
    CHECK (decided_via IN ('api', 'link', 'timeout', 'slack', 'teams'));
