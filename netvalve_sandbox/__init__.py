"""A stateful, in-memory NetValve card gateway simulator for local development and tests.

See `netvalve_sandbox/README.md` for the HTTP surface, test cards, magic amounts and knobs, and
`netvalve_sandbox.cards` for how outcomes are decided.
"""
