# Carebill: the commands a developer and CI use. See README.md.
.PHONY: run test check fmt openapi bench bench-money-path

run:            ## the embedded suite on 127.0.0.1:8080, data in ./carebill-data
	cargo run --release -p carebill -- serve

test:           ## every test, real PostgreSQL + RabbitMQ + SQLite, then the validators
	scripts/test.sh

check:          ## formatting, lints and the services' layers, as CI runs them
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings
	python3 scripts/check-layers.py

fmt:
	cargo fmt --all

openapi:        ## regenerate the committed OpenAPI document
	cargo run -q -p carebill -- openapi > openapi/carebill.json

bench:          ## the load program (see docs/development/benchmarks.md)
	scripts/bench.sh

bench-money-path: ## the money path end to end under load (see docs/development/benchmarks.md)
	scripts/bench-money-path.sh
