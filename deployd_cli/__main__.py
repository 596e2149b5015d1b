"""`python -m deployd_cli`: the same as the `deployd` console script."""

from deployd_cli.main import main

main()
