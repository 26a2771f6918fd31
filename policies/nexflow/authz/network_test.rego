package nexflow.authz_test

import data.nexflow.authz

net_input(hosts) := with_skill(call_input(["operator"], ["network"]), {"network": hosts})

url_input(host, port) := with_call_hosts(call_input(["operator"], ["network"]), [{"field": "url", "host": host, "port": port}])

granted(input_value, allowlist) := d if {
	d := authz.decision with input as input_value with data.nexflow.config.network.allowed_hosts as allowlist
	d.allow
}

test_empty_allowlist_denies_every_host if {
	d := authz.decision with input as net_input(["api.github.com:443"])
	codes(d) == {"network_not_allowed"}
	d.grants.network == []
}

test_listed_host_port_is_granted_in_lower_case if {
	granted(net_input(["API.github.com:443"]), ["api.github.com:443"]).grants.network == ["api.github.com:443"]
}

test_other_port_is_denied if {
	d := authz.decision with input as net_input(["api.github.com:22"])
		with data.nexflow.config.network.allowed_hosts as ["api.github.com:443"]
	codes(d) == {"network_not_allowed"}
}

test_any_port_allowlist_grants_the_requested_port if {
	granted(net_input(["api.github.com:8443"]), ["api.github.com:*"]).grants.network == ["api.github.com:8443"]
}

test_any_port_is_not_a_suffix_match if {
	d := authz.decision with input as net_input(["evil-api.github.com:443"])
		with data.nexflow.config.network.allowed_hosts as ["api.github.com:*"]
	codes(d) == {"network_not_allowed"}
}

test_bare_host_means_web_ports if {
	granted(net_input(["api.github.com:443"]), ["api.github.com"]).grants.network == ["api.github.com:443"]
	d := authz.decision with input as net_input(["api.github.com:22"])
		with data.nexflow.config.network.allowed_hosts as ["api.github.com"]
	codes(d) == {"network_not_allowed"}
}

test_request_without_port_is_narrowed_to_the_allowed_port if {
	granted(net_input(["api.github.com"]), ["api.github.com:443"]).grants.network == ["api.github.com:443"]
}

test_wildcard_allowlist_grants_names_below if {
	granted(net_input(["a.b.github.com:443"]), ["*.github.com:443"]).grants.network == ["a.b.github.com:443"]
}

test_wildcard_allowlist_never_covers_the_parent if {
	d := authz.decision with input as net_input(["github.com:443"])
		with data.nexflow.config.network.allowed_hosts as ["*.github.com:443"]
	codes(d) == {"network_not_allowed"}
}

test_wildcard_allowlist_is_not_a_plain_suffix if {
	d := authz.decision with input as net_input(["evilgithub.com:443"])
		with data.nexflow.config.network.allowed_hosts as ["*.github.com:443"]
	codes(d) == {"network_not_allowed"}
}

test_wildcard_request_is_narrowed_to_the_allowed_host if {
	granted(net_input(["*.github.com:443"]), ["api.github.com:443"]).grants.network == ["api.github.com:443"]
}

test_equal_wildcards_intersect if {
	granted(net_input(["*.github.com:443"]), ["*.github.com:*"]).grants.network == ["*.github.com:443"]
}

test_every_requested_endpoint_must_intersect if {
	d := authz.decision with input as net_input(["api.github.com:443", "evil.com:443"])
		with data.nexflow.config.network.allowed_hosts as ["api.github.com:443"]
	codes(d) == {"network_not_allowed"}
	d.grants.network == []
}

test_ipv6_literal_is_granted_exactly if {
	granted(net_input(["[fd00::1]:443"]), ["[fd00::1]:443"]).grants.network == ["[fd00::1]:443"]
}

test_input_url_host_on_allowlist_is_granted if {
	granted(url_input("api.test", 443), ["api.test:443"]).grants.network == ["api.test:443"]
}

test_input_url_host_is_granted_by_wildcard if {
	granted(url_input("a.api.test", 80), ["*.api.test"]).grants.network == ["a.api.test:80"]
}

test_input_url_host_not_on_allowlist_is_denied if {
	d := authz.decision with input as url_input("evil.test", 443)
		with data.nexflow.config.network.allowed_hosts as ["api.test:443"]
	codes(d) == {"network_not_allowed"}
	some r in d.reasons
	contains(r.message, "input field url asks for evil.test:443")
}

test_input_url_ipv6_host_is_bracketed if {
	granted(url_input("fd00::1", 443), ["[fd00::1]:443"]).grants.network == ["[fd00::1]:443"]
}

test_input_url_host_needs_the_network_permission if {
	d := authz.decision with input as with_call_hosts(user_input, [{"field": "url", "host": "api.test", "port": 443}])
		with data.nexflow.config.network.allowed_hosts as ["api.test:443"]
		with data.nexflow.config.roles.user.permissions as ["filesystem"]
	codes(d) == {"permission_not_allowed"}
}
