# Network grants
#
# A skill's network requests ("host:port") are granted only when every one of them is on
# data.nexflow.config.network.allowed_hosts: an exact "host:port" or "host:*" for any
# port; hosts compare case-insensitively. The allowlist is empty by default.
package nexflow.authz

_host_allowed(request) if {
	some allowed in _cfg.network.allowed_hosts
	lower(allowed) == lower(request)
}

_host_allowed(request) if {
	some allowed in _cfg.network.allowed_hosts
	endswith(allowed, ":*")
	host := trim_suffix(allowed, ":*")
	lower(host) == lower(split(request, ":")[0])
}

_network_grants contains request if {
	some request in object.get(input.skill, "network", [])
}

# METADATA
# description: The skill asks for a host:port that is not on the allowlist.
# custom:
#   code: network_not_allowed
_violations contains _reason("network_not_allowed", message) if {
	some request in object.get(input.skill, "network", [])
	not _host_allowed(request)
	message := sprintf("the skill asks for %s, which is not on the network allowlist", [request])
}
