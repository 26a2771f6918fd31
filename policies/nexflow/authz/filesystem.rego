# Filesystem grants and call paths
#
# data.nexflow.config.filesystem.roots lists the directories a skill may be given
# ("${workspace}" is input.context.workspace); a per-skill override may add
# "filesystem_roots" for that skill alone. A skill's request is granted when it lies
# inside a root; a rw request under an ro-only root is DOWNGRADED to ro (the grant is the
# intersection of ask and allowance; writes then fail on the call-path check or in the
# read-only mount). Every call path must lie inside a grant whose mode allows its access.
# All containment checks are path-aware: /ws-evil is not inside /ws.
package nexflow.authz

# The configured roots, with ${workspace} substituted; roots that are not normalized
# absolute paths after substitution are dropped (fail closed).
_roots contains {"path": path, "mode": root.mode} if {
	some root in array.concat(_cfg.filesystem.roots, object.get(_skill_cfg, "filesystem_roots", []))
	path := replace(root.path, "${workspace}", input.context.workspace)
	_normalized_abs(path)
	root.mode in _modes
}

# True when path equals base or lies below it (both normalized absolute paths).
_within(path, base) if path == base

_within(path, base) if {
	base == "/"
	startswith(path, "/")
}

_within(path, base) if startswith(path, concat("", [base, "/"]))

# Modes of the roots containing path.
_root_modes(path) := {root.mode | some root in _roots; _within(path, root.path)}

_granted_mode(request) := "ro" if {
	request.mode == "ro"
	count(_root_modes(request.path)) > 0
}

_granted_mode(request) := "rw" if {
	request.mode == "rw"
	"rw" in _root_modes(request.path)
}

_granted_mode(request) := "ro" if {
	request.mode == "rw"
	_root_modes(request.path) == {"ro"}
}

_filesystem_grants contains {"path": request.path, "mode": _granted_mode(request)} if {
	some request in object.get(input.skill, "filesystem", [])
}

# METADATA
# description: The skill asks for a directory outside every configured root.
# custom:
#   code: filesystem_not_allowed
_violations contains _reason("filesystem_not_allowed", message) if {
	some request in object.get(input.skill, "filesystem", [])
	count(_root_modes(request.path)) == 0
	message := sprintf("the skill asks for %s, outside the allowed directories", [request.path])
}

_access_allowed("read", _)

_access_allowed("write", "rw")

_path_granted(entry) if {
	some grant in _filesystem_grants
	_within(entry.resolved, grant.path)
	_access_allowed(entry.access, grant.mode)
}

# METADATA
# description: A path in the call's input resolves outside the granted directories.
# custom:
#   code: path_outside_grant
_violations contains _reason("path_outside_grant", message) if {
	some entry in object.get(input.call, "paths", [])
	not _path_granted(entry)

	# Name the path as the caller gave it: where it resolves on the host is not theirs to see.
	message := sprintf("input field %s: %s is outside the granted directories for %s", [
		entry.field, entry.value, entry.access,
	])
}
