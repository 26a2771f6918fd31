# When a human must approve
#
# data.nexflow.config.approvals:
#   "required_for": [classes]        calls using these permission classes
#   "writes_outside_workspace": bool a read-write grant outside the workspace
#   "unknown_publisher": bool        a skill whose publisher is not trusted
#   "new_skill_version": bool        the first run of a skill version (digest) not seen before
#   "scan_warning": bool             a skill whose install-time scan verdict was "warn"
# data.nexflow.config.publishers: "trusted" publisher names (a skill counts as theirs only
# when its publisher is verified, input.skill.publisher_verified), and "trusted_sources"
# (skills from these sources, e.g. the ones shipped with Nexflow, are trusted as a whole).
# A per-skill override can add "require_approval": true or vouch with "trusted": true.
# Approval never outranks a deny: a denied call is denied, approved or not.
package nexflow.authz

_approval_cfg := object.get(_cfg, "approvals", {})

_approval_on(name) if object.get(_approval_cfg, name, false) == true

_publishers := object.get(_cfg, "publishers", {})

_needs_approval(permission) if {
	permission in _requested_permissions
	permission in object.get(_approval_cfg, "required_for", [])
}

# METADATA
# description: The skill's install-time scan found something to look at (verdict warn).
# custom:
#   code: approval_required_scan_warning
_approvals contains _reason("approval_required_scan_warning", message) if {
	_approval_on("scan_warning")
	input.skill.scan_verdict == "warn"
	message := sprintf("skill %s was installed with scan warnings", [input.skill.name])
}

# METADATA
# description: The skill uses shell access, which needs approval.
# custom:
#   code: approval_required_shell
_approvals contains _reason("approval_required_shell", "shell access needs approval") if {
	_needs_approval("shell")
}

# METADATA
# description: The skill uses secrets, which need approval.
# custom:
#   code: approval_required_secrets
_approvals contains _reason("approval_required_secrets", "secrets need approval") if {
	_needs_approval("secrets")
}

# METADATA
# description: The skill uses the filesystem and the configuration requires approval for it.
# custom:
#   code: approval_required_filesystem
_approvals contains _reason("approval_required_filesystem", "filesystem access needs approval") if {
	_needs_approval("filesystem")
}

# METADATA
# description: The skill uses the network and the configuration requires approval for it.
# custom:
#   code: approval_required_network
_approvals contains _reason("approval_required_network", "network access needs approval") if {
	_needs_approval("network")
}

# METADATA
# description: The call would get a read-write directory outside the workspace.
# custom:
#   code: approval_required_write_outside_workspace
_approvals contains _reason("approval_required_write_outside_workspace", message) if {
	_approval_on("writes_outside_workspace")
	some grant in _filesystem_grants
	grant.mode == "rw"
	not _within(grant.path, input.context.workspace)
	message := sprintf("writing to %s, outside the workspace, needs approval", [grant.path])
}

# Skills the operator trusts as a whole: from a trusted source, or vouched for by name.
_vouched_skill if input.skill.source in object.get(_publishers, "trusted_sources", [])

_vouched_skill if _skill_cfg.trusted == true

_known_publisher if _vouched_skill

_known_publisher if {
	input.skill.publisher_verified == true
	input.skill.publisher in object.get(_publishers, "trusted", [])
}

# METADATA
# description: The skill's publisher is not a verified, trusted publisher.
# custom:
#   code: approval_required_unknown_publisher
_approvals contains _reason("approval_required_unknown_publisher", message) if {
	_approval_on("unknown_publisher")
	not _known_publisher
	message := sprintf("skill %s comes from %s, not a trusted publisher", [
		input.skill.name, _publisher_text,
	])
}

_publisher_text := sprintf("unverified publisher %s", [input.skill.publisher]) if {
	is_string(input.skill.publisher)
	not input.skill.publisher_verified == true
}

_publisher_text := sprintf("publisher %s", [input.skill.publisher]) if {
	is_string(input.skill.publisher)
	input.skill.publisher_verified == true
}

_publisher_text := "no named publisher" if not is_string(input.skill.publisher)

# METADATA
# description: This version of the skill has never run here before.
# custom:
#   code: approval_required_new_version
_approvals contains _reason("approval_required_new_version", message) if {
	_approval_on("new_skill_version")
	not _vouched_skill
	input.context.skill_runs == 0
	message := sprintf("the first run of %s %s (%s) needs approval", [
		input.skill.name, input.skill.version, input.skill.digest,
	])
}

# METADATA
# description: The operator requires approval for every call of this skill.
# custom:
#   code: approval_required_skill
_approvals contains _reason("approval_required_skill", message) if {
	_skill_cfg.require_approval == true
	message := sprintf("every call of %s needs approval", [input.skill.name])
}
