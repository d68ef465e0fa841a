"""Local stand-ins for third-party platforms that cannot be reached from here. Each is a fake built from
the platform's public documentation, for tests, the demo and the benchmark; never a claim about the real
service's behaviour beyond what its documentation says (each module names the documents it follows)."""
