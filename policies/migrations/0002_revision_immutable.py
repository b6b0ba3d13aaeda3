"""Policy revisions are immutable: a trigger refuses UPDATE, DELETE and TRUNCATE.

The function lives in the public schema (`public.gatehouse_policy_revision_guard`), like
the audit trail's guard, so schemas cloned from the template (tenants/clone.py copies
triggers, which name it qualified) share it. Dropping an organization's schema is not
affected: DROP SCHEMA fires no row or statement triggers.
"""

from django.db import migrations

GUARD_FUNCTION = r"""
CREATE OR REPLACE FUNCTION public.gatehouse_policy_revision_guard() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'policy revisions are immutable: % on %.% refused', TG_OP, TG_TABLE_SCHEMA, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'Change the policy instead: every change records a new revision.';
END;
$$;
"""

TRIGGERS = """
CREATE TRIGGER policies_policyrevision_immutable
    BEFORE UPDATE OR DELETE ON policies_policyrevision
    FOR EACH ROW EXECUTE FUNCTION public.gatehouse_policy_revision_guard();
CREATE TRIGGER policies_policyrevision_no_truncate
    BEFORE TRUNCATE ON policies_policyrevision
    FOR EACH STATEMENT EXECUTE FUNCTION public.gatehouse_policy_revision_guard();
"""

DROP_TRIGGERS = """
DROP TRIGGER IF EXISTS policies_policyrevision_immutable ON policies_policyrevision;
DROP TRIGGER IF EXISTS policies_policyrevision_no_truncate ON policies_policyrevision;
"""


class Migration(migrations.Migration):

    dependencies = [
        ("policies", "0001_initial"),
    ]

    operations = [
        migrations.RunSQL(GUARD_FUNCTION + TRIGGERS, DROP_TRIGGERS),
    ]
