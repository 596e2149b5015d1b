"""Helpers every test suite shares: real git repositories, polling with a deadline, build processes, log lines."""
