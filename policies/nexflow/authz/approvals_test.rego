package nexflow.authz_test

import data.nexflow.authz

marketplace_skill(base) := with_skill(base, {"source": "user", "publisher": "someone", "publisher_verified": false})

with_runs(base, runs) := object.union(base, {"context": {"skill_runs": runs}})

test_builtin_skill_needs_no_publisher_or_version_approval if {
	d := authz.decision with input as with_runs(user_input, 0)
	d.allow
}

test_unknown_publisher_needs_approval if {
	d := authz.decision with input as marketplace_skill(user_input)
	not d.allow
	d.require_approval
	codes(d) == {"approval_required_unknown_publisher"}
	d.grants.limits.pids == 64
}

test_unknown_publisher_message_says_unverified if {
	d := authz.decision with input as marketplace_skill(user_input)
	d.reasons[0].message == "skill file-read comes from unverified publisher someone, not a trusted publisher"
}

test_claimed_but_unverified_trusted_publisher_still_needs_approval if {
	ask := with_skill(user_input, {"source": "user", "publisher": "nexflow", "publisher_verified": false})
	d := authz.decision with input as ask
	codes(d) == {"approval_required_unknown_publisher"}
}

test_skill_without_publisher_needs_approval if {
	ask := with_skill(user_input, {"source": "user", "publisher": null})
	d := authz.decision with input as ask
	codes(d) == {"approval_required_unknown_publisher"}
	d.reasons[0].message == "skill file-read comes from no named publisher, not a trusted publisher"
}

test_verified_trusted_publisher_needs_no_publisher_approval if {
	ask := with_skill(user_input, {"source": "user", "publisher": "nexflow", "publisher_verified": true})
	d := authz.decision with input as ask
	d.allow
}

test_first_run_of_a_new_version_needs_approval if {
	ask := with_skill(with_runs(user_input, 0), {"source": "user", "publisher": "acme", "publisher_verified": true})
	d := authz.decision with input as ask with data.nexflow.config.publishers.trusted as ["acme"]
	codes(d) == {"approval_required_new_version"}
	d.require_approval
}

test_second_run_of_a_version_needs_no_version_approval if {
	ask := with_skill(with_runs(user_input, 1), {"source": "user", "publisher": "acme", "publisher_verified": true})
	d := authz.decision with input as ask with data.nexflow.config.publishers.trusted as ["acme"]
	d.allow
}

test_unknown_publisher_and_new_version_both_reported if {
	d := authz.decision with input as with_runs(marketplace_skill(user_input), 0)
	codes(d) == {"approval_required_unknown_publisher", "approval_required_new_version"}
}

test_trusted_skill_override_waives_publisher_and_version_approval if {
	d := authz.decision with input as with_runs(marketplace_skill(user_input), 0)
		with data.nexflow.config.skills as {"file-read": {"trusted": true}}
	d.allow
}

test_publisher_and_version_approvals_can_be_turned_off if {
	d := authz.decision with input as with_runs(marketplace_skill(user_input), 0)
		with data.nexflow.config.approvals.unknown_publisher as false
		with data.nexflow.config.approvals.new_skill_version as false
	d.allow
}

test_approved_marketplace_call_is_allowed if {
	ask := object.union(with_runs(marketplace_skill(user_input), 0), {"context": {"approved": true}})
	d := authz.decision with input as ask
	d.allow
}

extra_root := [{"path": "${workspace}", "mode": "rw"}, {"path": "/srv/data", "mode": "rw"}]

test_write_outside_workspace_needs_approval if {
	ask := with_skill(call_input(["user"], []), {"filesystem": [{"path": "/srv/data", "mode": "rw"}]})
	d := authz.decision with input as ask with data.nexflow.config.filesystem.roots as extra_root
	codes(d) == {"approval_required_write_outside_workspace"}
	d.reasons[0].message == "writing to /srv/data, outside the workspace, needs approval"
	d.grants.filesystem == [{"path": "/srv/data", "mode": "rw"}]
}

test_read_outside_workspace_needs_no_approval if {
	ask := with_skill(call_input(["user"], []), {"filesystem": [{"path": "/srv/data", "mode": "ro"}]})
	d := authz.decision with input as ask with data.nexflow.config.filesystem.roots as extra_root
	d.allow
}

test_write_inside_workspace_needs_no_approval if {
	ask := with_skill(call_input(["user"], []), {"filesystem": [{"path": concat("/", [workspace, "notes"]), "mode": "rw"}]})
	d := authz.decision with input as ask
	d.allow
}

test_workspace_sibling_is_outside_the_workspace if {
	sibling := concat("", [workspace, "-evil"])
	ask := with_skill(call_input(["user"], []), {"filesystem": [{"path": sibling, "mode": "rw"}]})
	d := authz.decision with input as ask with data.nexflow.config.filesystem.roots as [{"path": "/home/me", "mode": "rw"}]
	codes(d) == {"approval_required_write_outside_workspace"}
}

test_writes_outside_workspace_approval_can_be_turned_off if {
	ask := with_skill(call_input(["user"], []), {"filesystem": [{"path": "/srv/data", "mode": "rw"}]})
	d := authz.decision with input as ask
		with data.nexflow.config.filesystem.roots as extra_root
		with data.nexflow.config.approvals.writes_outside_workspace as false
	d.allow
}

test_skill_override_requires_approval_for_every_call if {
	d := authz.decision with input as user_input
		with data.nexflow.config.skills as {"file-read": {"require_approval": true}}
	codes(d) == {"approval_required_skill"}
}

test_admin_still_needs_shell_approval if {
	d := authz.decision with input as call_input(["admin"], ["shell"])
	codes(d) == {"approval_required_shell"}
}

test_admin_runs_a_plain_skill_without_approval if {
	d := authz.decision with input as call_input(["admin"], ["filesystem", "network"])
	d.allow
}

# `with` merges objects in OPA, so the whole config is replaced to drop the approvals key.
test_missing_approval_config_requires_nothing_extra if {
	d := authz.decision with input as with_runs(marketplace_skill(call_input(["admin"], ["shell"])), 0)
		with data.nexflow.config as object.remove(data.nexflow.config, ["approvals"])
	d.allow
}

test_a_scan_warning_needs_approval_even_from_a_trusted_publisher if {
	ask := with_skill(user_input, {"source": "user", "publisher": "nexflow", "publisher_verified": true, "scan_verdict": "warn"})
	d := authz.decision with input as ask
	not d.allow
	d.require_approval
	codes(d) == {"approval_required_scan_warning"}
}

test_a_clean_scan_needs_no_scan_approval if {
	ask := with_skill(user_input, {"source": "user", "publisher": "nexflow", "publisher_verified": true, "scan_verdict": "clean"})
	d := authz.decision with input as ask
	d.allow
}

test_a_blocked_scan_is_denied_even_when_approved if {
	ask := with_skill(user_input, {"source": "user", "publisher": "nexflow", "publisher_verified": true, "scan_verdict": "block"})
	d := authz.decision with input as object.union(ask, {"context": object.union(ask.context, {"approved": true})})
	not d.allow
	"skill_scan_blocked" in codes(d)
}

test_a_scan_verdict_of_another_shape_is_malformed if {
	ask := with_skill(user_input, {"scan_verdict": "fine"})
	d := authz.decision with input as ask
	not d.allow
	"malformed_input" in codes(d)
}
