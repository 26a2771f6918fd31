package nexflow.authz_test

import data.nexflow.authz

net_input(hosts) := with_skill(call_input(["operator"], ["network"]), {"network": hosts})

test_empty_allowlist_denies_every_host if {
	d := authz.decision with input as net_input(["api.github.com:443"])
	codes(d) == {"network_not_allowed"}
}

test_listed_host_port_is_granted if {
	d := authz.decision with input as net_input(["API.github.com:443"])
		with data.nexflow.config.network.allowed_hosts as ["api.github.com:443"]
	d.allow
	d.grants.network == ["API.github.com:443"]
}

test_other_port_is_denied if {
	d := authz.decision with input as net_input(["api.github.com:22"])
		with data.nexflow.config.network.allowed_hosts as ["api.github.com:443"]
	codes(d) == {"network_not_allowed"}
}

test_wildcard_port_allows_any_port if {
	d := authz.decision with input as net_input(["api.github.com:8443"])
		with data.nexflow.config.network.allowed_hosts as ["api.github.com:*"]
	d.allow
}

test_wildcard_port_is_not_a_suffix_match if {
	d := authz.decision with input as net_input(["evil-api.github.com:443"])
		with data.nexflow.config.network.allowed_hosts as ["api.github.com:*"]
	codes(d) == {"network_not_allowed"}
}
