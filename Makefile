.PHONY: test run sandbox migrate

test:
	scripts/test.sh

run:
	scripts/run_local.sh

sandbox:
	.venv/bin/netvalve-sandbox

migrate:
	.venv/bin/alembic upgrade head
