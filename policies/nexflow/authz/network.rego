# Network grants
#
# A call asks for network endpoints in two ways: the skill's `sandbox.network` list
# (input.skill.network) and, per call, the hosts of input fields the skill marked
# `x-nexflow-network: url` (input.call.hosts). Each endpoint must intersect the global
# allowlist, data.nexflow.config.network.allowed_hosts (or a per-skill override's
# allowed_hosts); the grant is the intersection,
# so it is never wider than either side. Endpoint forms, on both sides:
#   "host:port"       exactly that host and port
#   "host"            that host on the web ports (80 and 443)
#   "host:*"          that host on any port (allowlist only)
#   "*.domain[:port]" any name below domain, never domain itself
#   "1.2.3.4:port", "[fd00::1]:port"  an address literal (the executor refuses private,
#                     loopback and link-local addresses unless granted exactly this way)
# Hosts compare case-insensitively. The allowlist is empty by default: no network.
package nexflow.authz

# An endpoint as {host, port}: port is a decimal string, "*" (any) or "" (web ports).
_endpoint(text) := {"host": lower(text), "port": ""} if {
	not startswith(text, "[")
	not contains(text, ":")
}

_endpoint(text) := {"host": lower(parts[0]), "port": parts[1]} if {
	not startswith(text, "[")
	parts := split(text, ":")
	count(parts) == 2
}

_endpoint(text) := {"host": lower(host), "port": trim_prefix(rest, ":")} if {
	startswith(text, "[")
	end := indexof(text, "]")
	host := substring(text, 0, end + 1)
	rest := substring(text, end + 1, -1)
	_bracket_rest(rest)
}

_bracket_rest("")

_bracket_rest(rest) if startswith(rest, ":")

_endpoint_text(e) := e.host if e.port == ""

_endpoint_text(e) := concat(":", [e.host, e.port]) if e.port != ""

# Port `wide` covers port `narrow`: any port, the web ports, or the same port.
_port_covers("*", _)

_port_covers("", narrow) if narrow in {"", "80", "443"}

_port_covers(wide, narrow) if wide == narrow

_wildcard_domain(host) := substring(host, 2, -1) if startswith(host, "*.")

# Host `wide` covers host `narrow`: equal, or `wide` is *.d and `narrow` sits below d
# (a name, or a deeper or equal wildcard). "*.d" never covers "d".
_host_covers(wide, narrow) if wide == narrow

_host_covers(wide, narrow) if {
	domain := _wildcard_domain(wide)
	endswith(narrow, concat("", [".", domain]))
}

# The intersection of a requested and an allowed endpoint: the narrower on each axis.
_narrower_host(requested, allowed) := requested.host if _host_covers(allowed.host, requested.host)

_narrower_host(requested, allowed) := allowed.host if {
	not _host_covers(allowed.host, requested.host)
	_host_covers(requested.host, allowed.host)
}

_narrower_port(requested, allowed) := requested.port if _port_covers(allowed.port, requested.port)

_narrower_port(requested, allowed) := allowed.port if {
	not _port_covers(allowed.port, requested.port)
	_port_covers(requested.port, allowed.port)
}

_intersections(text) := {_endpoint_text(e) |
	requested := _endpoint(text)
	some allowed_text in _allowed_endpoints
	allowed := _endpoint(allowed_text)
	e := {"host": _narrower_host(requested, allowed), "port": _narrower_port(requested, allowed)}
}

# The global allowlist, plus the endpoints a per-skill override allows that skill alone.
_allowed_endpoints := array.concat(
	object.get(object.get(_cfg, "network", {}), "allowed_hosts", []),
	object.get(_skill_cfg, "allowed_hosts", []),
)

# Every endpoint the call asks for: declared by the skill, or taken from its input.
_network_requests contains text if {
	some text in object.get(input.skill, "network", [])
}

_network_requests contains text if {
	some entry in object.get(input.call, "hosts", [])
	text := _call_host_text(entry)
}

_call_host_text(entry) := sprintf("[%s]:%d", [entry.host, entry.port]) if contains(entry.host, ":")

_call_host_text(entry) := sprintf("%s:%d", [entry.host, entry.port]) if not contains(entry.host, ":")

_network_grants contains grant if {
	some text in _network_requests
	some grant in _intersections(text)
}

# METADATA
# description: The skill asks for a network endpoint that is not on the allowlist.
# custom:
#   code: network_not_allowed
_violations contains _reason("network_not_allowed", message) if {
	some request in object.get(input.skill, "network", [])
	count(_intersections(request)) == 0
	message := sprintf("the skill asks for %s, which is not on the network allowlist", [request])
}

# METADATA
# description: An input field names a host that is not on the allowlist.
# custom:
#   code: network_not_allowed
_violations contains _reason("network_not_allowed", message) if {
	some entry in object.get(input.call, "hosts", [])
	text := _call_host_text(entry)
	count(_intersections(text)) == 0
	message := sprintf("input field %s asks for %s, which is not on the network allowlist", [
		entry.field, text,
	])
}
