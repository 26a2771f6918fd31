package nexflow.authz_test

import data.nexflow.authz

backend_input(backend) := with_skill(user_input, {"backend": backend})

test_no_backend_request_runs_on_the_default if {
	d := authz.decision with input as user_input
		with data.nexflow.config.sandbox.backends as []
	d.allow
}

test_allowed_backend_request_is_honoured if {
	d := authz.decision with input as backend_input("docker")
		with data.nexflow.config.sandbox.backends as ["docker", "nsjail"]
	d.allow
}

test_disallowed_backend_request_is_denied if {
	d := authz.decision with input as backend_input("nsjail")
		with data.nexflow.config.sandbox.backends as ["docker"]
	codes(d) == {"backend_not_allowed"}
	not d.allow
}

test_shipped_data_allows_both_backends if {
	authz.decision.allow with input as backend_input("docker")
	authz.decision.allow with input as backend_input("nsjail")
}
