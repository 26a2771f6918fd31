# Input validation
#
# The shape of input = {principal, skill, call, context}. Anything else is denied with
# malformed_input before any other rule looks at it, so no rule ever sees a wrong type.
#
# Two ways to the same answer: _well_formed checks every field in one pass (the path a
# real call takes, kept cheap because it runs on every decision); only when it fails are
# the individual _shape_errors computed, to say what is wrong. Each condition below exists
# in both forms; the conformance tests check on every corpus input that the two agree.
package nexflow.authz

_skill_name_pattern := `^[a-z0-9]([a-z0-9-]{0,62}[a-z0-9])?$`

_endpoint_pattern := `^((\*\.)?[A-Za-z0-9_]([A-Za-z0-9_.-]{0,251}[A-Za-z0-9_])?|\[[0-9A-Fa-f:.]+\])(:[0-9]{1,5})?$`

_call_host_pattern := `^([A-Za-z0-9_]([A-Za-z0-9_.-]{0,251}[A-Za-z0-9_])?|[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*)$`

_secret_name_pattern := `^[a-z][a-z0-9_]{0,62}$`

_modes := {"ro", "rw"}

_accesses := {"read", "write"}

_malformed_reason(message) := _reason("malformed_input", message)

# METADATA
# description: Input that does not have the documented shape.
# custom:
#   code: malformed_input
_malformed := set() if _well_formed

_malformed := {_malformed_reason(message) | some message in _shape_errors} if {
	not _well_formed
	count(_shape_errors) > 0
}

# Defensive: the fast check failed but no single check names the problem.
_malformed := {_malformed_reason("input does not have the documented shape")} if {
	not _well_formed
	count(_shape_errors) == 0
}

_well_formed if {
	principal := input.principal
	skill := input.skill
	call := input.call
	context := input.context
	is_object(principal)
	is_object(skill)
	is_object(call)
	is_object(context)
	_nonempty_string(principal.id)
	_string_array(principal.roles)
	_skill_name(skill.name)
	is_string(skill.version)
	is_string(skill.digest)
	is_string(skill.source)
	_string_or_null(object.get(skill, "publisher", null))
	is_boolean(object.get(skill, "publisher_verified", false))
	_scan_verdict(object.get(skill, "scan_verdict", null))
	_string_array(skill.permissions)
	_string_array(object.get(skill, "tags", []))
	_endpoints(object.get(skill, "network", []))
	_filesystem_requests(object.get(skill, "filesystem", []))
	_limits(object.get(skill, "limits", {}))
	_secret_names(object.get(skill, "secrets", []))
	_secret_names(object.get(skill, "optional_secrets", []))
	_nonempty_string(call.id)
	_call_paths(object.get(call, "paths", []))
	_call_hosts(object.get(call, "hosts", []))
	_normalized_abs(context.workspace)
	is_boolean(object.get(context, "approved", false))
	_rate_counts(context.rate)
	_count(context.skill_runs)
}

_shape_errors contains "input must be an object" if not is_object(input)

_shape_errors contains sprintf("input.%s must be an object", [part]) if {
	some part in ["principal", "skill", "call", "context"]
	not is_object(object.get(input, part, null))
}

_shape_errors contains "input.principal.id must be a non-empty string" if {
	not _nonempty_string(_field("principal", "id"))
}

_shape_errors contains "input.principal.roles must be an array of strings" if {
	not _string_array(_field("principal", "roles"))
}

_shape_errors contains "input.skill.name must be 1-64 lowercase letters, digits or hyphens" if {
	not _skill_name(_field("skill", "name"))
}

_shape_errors contains sprintf("input.skill.%s must be a string", [field]) if {
	some field in ["version", "digest", "source"]
	not is_string(_field("skill", field))
}

_shape_errors contains "input.skill.publisher must be a string or null" if {
	not _string_or_null(_field("skill", "publisher"))
}

_scan_verdict(v) if v == null

_scan_verdict(v) if v in {"clean", "warn", "block"}

_shape_errors contains "input.skill.scan_verdict must be clean, warn, block or null" if {
	not _scan_verdict(object.get(_section("skill"), "scan_verdict", null))
}

_shape_errors contains "input.skill.publisher_verified must be a boolean" if {
	not is_boolean(object.get(_section("skill"), "publisher_verified", false))
}

_shape_errors contains "input.skill.permissions must be an array of strings" if {
	not _string_array(_field("skill", "permissions"))
}

_shape_errors contains sprintf("input.skill.%s must be an array of strings", [field]) if {
	some field in ["tags", "network"]
	not _string_array(object.get(_section("skill"), field, []))
}

_shape_errors contains sprintf("input.skill.network entry %s must be host[:port]", [entry]) if {
	entries := object.get(_section("skill"), "network", [])
	is_array(entries)
	some entry in entries
	is_string(entry)
	not _endpoint_text_ok(entry)
}

_shape_errors contains "input.skill.filesystem must be an array of {path, mode}" if {
	requests := object.get(_section("skill"), "filesystem", [])
	not _filesystem_requests(requests)
}

_shape_errors contains sprintf("input.skill.%s must be an array of secret names (^[a-z][a-z0-9_]{0,62}$)", [field]) if {
	some field in ["secrets", "optional_secrets"]
	not _secret_names(object.get(_section("skill"), field, []))
}

_shape_errors contains "input.skill.limits must be an object" if {
	not is_object(object.get(_section("skill"), "limits", {}))
}

_shape_errors contains sprintf("input.skill.limits.%s is not a known limit", [name]) if {
	limits := object.get(_section("skill"), "limits", {})
	is_object(limits)
	some name, _ in limits
	not _cfg.limits.defaults[name]
}

_shape_errors contains sprintf("input.skill.limits.%s must be a positive integer", [name]) if {
	limits := object.get(_section("skill"), "limits", {})
	is_object(limits)
	some name, value in limits
	not _positive_integer(value)
}

_shape_errors contains "input.call.id must be a non-empty string" if {
	not _nonempty_string(_field("call", "id"))
}

_shape_errors contains "input.call.paths must be an array of {field, resolved, access}" if {
	not _call_paths(object.get(_section("call"), "paths", []))
}

_shape_errors contains "input.call.hosts must be an array of {field, host, port}" if {
	not _call_hosts(object.get(_section("call"), "hosts", []))
}

_shape_errors contains "input.context.workspace must be a normalized absolute path" if {
	not _normalized_abs(_field("context", "workspace"))
}

_shape_errors contains "input.context.approved must be a boolean" if {
	not is_boolean(object.get(_section("context"), "approved", false))
}

_shape_errors contains "input.context.rate must be {minute, hour}, counts of the principal's earlier calls" if {
	not _rate_counts(_field("context", "rate"))
}

_shape_errors contains "input.context.skill_runs must be a count of this skill version's earlier runs" if {
	not _count(_field("context", "skill_runs"))
}

# Each input section, or {} when absent or not an object, and one field of it, or null:
# values stay defined, so `not check(value)` fires the same way in OPA and in regopy.
_section(name) := input[name] if {
	is_object(input)
	is_object(input[name])
} else := {}

_field(section, name) := object.get(_section(section), name, null)

_nonempty_string(value) if {
	is_string(value)
	value != ""
}

# Rules below never use `every`: rego-cpp (regopy 1.5.2) evaluates `not` inside `every`
# wrongly, so "all are good" is written as "none is bad", which both engines agree on.
_string_array(value) if {
	is_array(value)
	not _has_non_string(value)
}

_has_non_string(value) if {
	some item in value
	not is_string(item)
}

_string_or_null(null)

_string_or_null(value) if is_string(value)

# A count: an integer >= 0.
_count(value) if {
	is_number(value)
	value >= 0
	floor(value) == value
}

_rate_counts(value) if {
	is_object(value)
	_count(value.minute)
	_count(value.hour)
}

_endpoints(value) if {
	_string_array(value)
	not _has_bad_endpoint(value)
}

_has_bad_endpoint(value) if {
	some entry in value
	not _endpoint_text_ok(entry)
}

_endpoint_text_ok(entry) if regex.match(_endpoint_pattern, entry)

# The skill's limits: an object of known limit names with positive integer values.
_limits(value) if {
	is_object(value)
	not _has_bad_limit(value)
}

_has_bad_limit(value) if {
	some name, _ in value
	not _cfg.limits.defaults[name]
}

_has_bad_limit(value) if {
	some value_of_limit in value
	not _positive_integer(value_of_limit)
}

_secret_names(value) if {
	_string_array(value)
	not _has_bad_secret_name(value)
}

_has_bad_secret_name(value) if {
	some name in value
	not regex.match(_secret_name_pattern, name)
}

_skill_name(value) if {
	is_string(value)
	regex.match(_skill_name_pattern, value)
}

_positive_integer(value) if {
	is_number(value)
	value > 0
	floor(value) == value
}

_filesystem_requests(value) if {
	is_array(value)
	not _has_bad_request(value)
}

_has_bad_request(value) if {
	some request in value
	not _filesystem_request(request)
}

_filesystem_request(request) if {
	is_object(request)
	_normalized_abs(request.path)
	request.mode in _modes
}

_call_paths(value) if {
	is_array(value)
	not _has_bad_call_path(value)
}

_has_bad_call_path(value) if {
	some entry in value
	not _call_path(entry)
}

_call_path(entry) if {
	is_object(entry)
	is_string(entry.field)
	_normalized_abs(entry.resolved)
	entry.access in _accesses
}

_call_hosts(value) if {
	is_array(value)
	not _has_bad_call_host(value)
}

_has_bad_call_host(value) if {
	some entry in value
	not _call_host(entry)
}

_call_host(entry) if {
	is_object(entry)
	is_string(entry.field)
	is_string(entry.host)
	regex.match(_call_host_pattern, entry.host)
	_positive_integer(entry.port)
	entry.port <= 65535
}

# An absolute path with no empty, "." or ".." segment and no trailing slash, so that
# string prefix checks on it are also path checks.
_normalized_abs("/")

_normalized_abs(path) if {
	is_string(path)
	startswith(path, "/")
	not endswith(path, "/")
	not endswith(path, "/.")
	not endswith(path, "/..")
	not contains(path, "//")
	not contains(path, "/./")
	not contains(path, "/../")
}
