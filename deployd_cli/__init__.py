"""The `deployd` command line: a client of the native API (/api/v1/public) and nothing else (docs/cli.md)."""
