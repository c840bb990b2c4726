"""The ``verity`` command: train, serve, score, eval, health."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from contextlib import ExitStack
from pathlib import Path

from rewards.code.datasets import ROW_FORMATS


def _serve(args: argparse.Namespace) -> int:
    from rewards.builtin import VerifierOptions, make_verifier
    from rewards.host import serve_verifier
    from serving.auth import TokenFileError, read_token_file
    from serving.local import LocalServices, exit_with_parent
    from serving.server import configure_logging
    from serving.tls import TLSFiles

    exit_with_parent()
    configure_logging(args.log_level)
    if bool(args.tls_cert) != bool(args.tls_key) or (args.tls_client_ca and not args.tls_cert):
        print("verity serve: TLS needs both --tls-cert and --tls-key (and --tls-client-ca only with them)", file=sys.stderr)
        return 2
    tls = TLSFiles(args.tls_cert, args.tls_key, args.tls_client_ca) if args.tls_cert else None
    try:
        token = read_token_file(args.auth_token_file, "--auth-token-file")
    except TokenFileError as e:
        print(f"verity serve: {e}", file=sys.stderr)
        return 2
    limits = dict(max_concurrent_rpcs=args.max_concurrent_rpcs, max_message_bytes=args.max_message_mb * 1024 * 1024, auth_token=token)
    try:
        if args.service == "sandbox":
            from sandbox.service import serve_sandbox

            asyncio.run(serve_sandbox(args.slots, args.max_wait_s, args.tmpfs_mb * 1024 * 1024, args.uid_base, proc=not args.no_proc, host=args.host, port=args.port, tls=tls, **limits))
            return 0
        with ExitStack() as stack:
            sandbox = tuple(args.sandbox)
            if args.service == "code" and not sandbox:  # no sandbox given: run one beside this service
                sandbox = tuple(stack.enter_context(LocalServices(["sandbox"], auth_token_file=args.auth_token_file))["sandbox"])
            options = VerifierOptions(workers=args.workers, deadline_s=args.deadline_s, sandbox=sandbox, sandbox_token=token, code_reward=args.code_reward, code_max_tests=args.max_tests, code_max_seconds=args.max_seconds)
            verifier = make_verifier(args.service, options)
            asyncio.run(serve_verifier(verifier, host=args.host, port=args.port, tls=tls, **limits))
    except (OSError, RuntimeError, ValueError) as e:  # a used port; a machine that cannot build the sandbox
        print(f"verity serve: {e}", file=sys.stderr)
        return 1
    return 0


def _add_code_options(parser: argparse.ArgumentParser, prefix: str) -> None:
    parser.add_argument("--code-reward", choices=["all", "fraction"], default="all", help=prefix + "reward 1 only when every case passes (all), or the share passed (fraction)")
    parser.add_argument("--max-tests", type=int, default=None, help=prefix + "run at most this many of a problem's cases, its first ones (default: all)")
    parser.add_argument("--max-seconds", type=float, default=60.0, help=prefix + "a problem's cases may take this many wall seconds together; past it the problem is a TIMEOUT (default 60)")


def _score(args: argparse.Namespace) -> int:
    from rich.console import Console

    from contract.files import DataFileError
    from rewards.builtin import code_serve_args
    from rewards.router import parse_endpoints
    from rewards.score_file import EXIT_USAGE, OutputError, exit_code, score_file, summary_table
    from serving.auth import read_token_file
    from serving.client import ClientOptions

    try:
        endpoints = parse_endpoints(args.endpoint) if args.endpoint else None
        token = read_token_file(args.auth_token_file, "--auth-token-file")
        options = ClientOptions(tls_ca=args.tls_ca, tls_cert=args.tls_cert, tls_key=args.tls_key, max_message_bytes=args.max_message_mb * 2**20, auth_token=token)
        counts = score_file(Path(args.input), Path(args.output), endpoints, options, workers=args.workers, deadline_s=args.deadline_s, show_progress=sys.stderr.isatty(), fmt=args.format, service_args={"code": code_serve_args(args.code_reward, args.max_tests, args.max_seconds)}, auth_token_file=args.auth_token_file)
    except (DataFileError, OutputError, ValueError) as e:
        print(f"verity score: {e}", file=sys.stderr)
        return EXIT_USAGE
    Console(stderr=True).print(summary_table(counts, Path(args.output)))
    return exit_code(counts)


SCORE_EXIT_CODES = """exit codes:
  0  every row scored (OK, WRONG or TIMEOUT)
  1  some rows INVALID (malformed input: each one's detail says what to fix), none ERROR
  2  nothing scored: a bad argument, an unreadable input, an unwritable output
  3  some rows ERROR (infrastructure: a service unreachable or failing): score them again"""


def _train(args: argparse.Namespace) -> int:
    from contract.files import DataFileError
    from trainer.config import ConfigError, load_config
    from trainer.runs import OutOfSpace, RunError

    config, overrides = args.config, list(args.overrides)
    if config and "=" in config and not Path(config).exists():  # `verity train key=value ...` without a file
        config, overrides = None, [config, *overrides]
    try:
        if args.check:
            from trainer.check import check_report

            print(check_report(load_config(config, overrides)))
            return 0
        from trainer.run import train_main

        return train_main(config, overrides, resume=args.resume)
    except (ConfigError, RunError, DataFileError) as e:
        print(f"verity train: {e}", file=sys.stderr)
        return 2
    except OutOfSpace as e:
        print(f"verity train: {e}", file=sys.stderr)
        return 1


def _health(args: argparse.Namespace) -> int:
    from serving.health import health_status

    status = health_status(args.address, args.service, args.timeout_s)
    print(f"{args.address} {args.service or '(server)'}: {status}")
    return 0 if status == "SERVING" else 1


def _eval(args: argparse.Namespace) -> int:
    from contract.files import DataFileError
    from trainer.config import ConfigError
    from trainer.run import eval_main
    from trainer.runs import RunError

    try:
        return eval_main(args.checkpoint, args.data, args.overrides)
    except (ConfigError, RunError, DataFileError) as e:
        print(f"verity eval: {e}", file=sys.stderr)
        return 2


class _TrainHelp(argparse.Action):
    """``verity train --help``: the usage, then the config's sections (read from the config model
    only when asked, so other commands do not import the trainer)."""

    def __init__(self, option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS, help=None):
        super().__init__(option_strings, dest=dest, default=default, nargs=0, help=help)

    def __call__(self, parser, namespace, values, option_string=None):
        from trainer.config import Config

        sections = "\n".join(f"  {name:<10} {field.description}" for name, field in Config.model_fields.items())
        parser.epilog = f"config sections (set any key as section.key=value, e.g. train.steps=20):\n{sections}\n\nEvery key with its default and meaning: the 'Config reference' section of README.md.\nverity train --check [CONFIG] [overrides] prints the config resolved, without loading a model."
        parser.print_help()
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    from verity import __version__

    parser = argparse.ArgumentParser(prog="verity", description="RL from verifiable rewards: trainer and gRPC reward services.")
    parser.add_argument("--version", action="version", version=f"verity {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    train = sub.add_parser("train", help="train a policy; with no CONFIG, the built-in quickstart", add_help=False, formatter_class=argparse.RawDescriptionHelpFormatter)
    train.add_argument("-h", "--help", action=_TrainHelp, help="show this help, the config's sections, and where every key is described")
    train.add_argument("config", nargs="?", help="YAML config (default: the built-in quickstart)")
    train.add_argument("overrides", nargs="*", help="key.sub=value overrides, e.g. train.steps=4")
    train.add_argument("--resume", nargs="?", const="auto", default=None, help="continue the latest run of train.output_dir from its newest checkpoint (no checkpoint yet: start it from the beginning, as a restarted torchrun job must), or continue the run folder or checkpoint DIR")
    train.add_argument("--check", action="store_true", help="validate the config, print it resolved with the registered algorithms (docs/algorithms.md), and exit without loading a model")
    train.set_defaults(func=_train)

    serve = sub.add_parser("serve", help="run a verifier service over gRPC")
    serve.add_argument("service", choices=["math", "telecom", "code", "sandbox"], help="which service")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only; 0.0.0.0 for every interface, which it then says on stderr)")
    serve.add_argument("--port", type=int, default=50051, help="port; 0 picks a free one (printed on start)")
    serve.add_argument("--workers", type=int, default=None, help="worker processes (default: cores)")
    serve.add_argument("--deadline-s", type=float, default=1.0, help="per-sample checking deadline in seconds")
    serve.add_argument("--max-concurrent-rpcs", type=int, default=64)
    serve.add_argument("--max-message-mb", type=int, default=32, help="max request/response size in MiB")
    serve.add_argument("--sandbox", action="append", default=[], metavar="HOST:PORT", help="code: a Sandbox service to run programs on (repeat for replicas); default: start one locally")
    _add_code_options(serve, "code: ")
    serve.add_argument("--slots", type=int, default=None, help="sandbox: concurrent isolated runs (default: cores)")
    serve.add_argument("--max-wait-s", type=float, default=30.0, help="sandbox: longest a request waits for a free slot")
    serve.add_argument("--uid-base", type=int, default=None, help="sandbox: first of the slots' uids (default: the lowest free ones from 61000)")
    serve.add_argument("--tmpfs-mb", type=int, default=64, help="sandbox: size of each run's /work and /tmp in MiB")
    serve.add_argument("--no-proc", action="store_true", help="sandbox: no /proc in the environments (inside a container whose /proc is masked, as Docker's is)")
    serve.add_argument("--log-level", default="INFO")
    serve.add_argument("--tls-cert", help="server certificate (PEM): serve TLS instead of plaintext")
    serve.add_argument("--tls-key", help="server private key (PEM)")
    serve.add_argument("--tls-client-ca", help="CA (PEM) that client certificates must chain to: mTLS")
    serve.add_argument("--auth-token-file", metavar="FILE", help="refuse calls that do not send the token in FILE as 'authorization: Bearer <token>' metadata (UNAUTHENTICATED); health checks stay open. code: also sent to its --sandbox")
    serve.set_defaults(func=_serve)

    score = sub.add_parser("score", help="score a file of samples with responses (JSONL, JSON array or Parquet)", epilog=SCORE_EXIT_CODES, formatter_class=argparse.RawDescriptionHelpFormatter)
    score.add_argument("--input", required=True, help="samples in the sample schema (docs/schema.md), each with a 'response': JSON lines, a JSON array or Parquet (verl-style Parquet is mapped); fields beyond the schema are copied to the output")
    score.add_argument("--output", required=True, help="one JSON line per input row, same order: the row's fields beyond the schema, then id, reward, status, detail, components (checked before any scoring)")
    score.add_argument("--format", choices=["jsonl", "json", "parquet", *ROW_FORMATS], help="how to read --input: a file encoding of the sample schema (default: by its content and extension), or a code dataset's own rows (data.format's names), each with an added 'response'")
    score.add_argument("--endpoint", action="append", default=[], metavar="NAME=HOST:PORT", help="use a running service (repeat for replicas); default: start local ones")
    score.add_argument("--workers", type=int, default=None, help="worker processes of locally started services")
    score.add_argument("--deadline-s", type=float, default=1.0, help="per-sample deadline of locally started services")
    _add_code_options(score, "locally started code verifier: ")
    score.add_argument("--max-message-mb", type=int, default=32, help="largest request in MiB (locally started services take it too); a row larger on its own is INVALID, and batches are split to stay under it")
    score.add_argument("--tls-ca", help="CA (PEM) of the services' certificates: connect with TLS")
    score.add_argument("--tls-cert", help="client certificate (PEM), for services that require mTLS")
    score.add_argument("--tls-key", help="client private key (PEM)")
    score.add_argument("--auth-token-file", metavar="FILE", help="send the token in FILE with every call, for services started with --auth-token-file (locally started services require it too)")
    score.set_defaults(func=_score)

    health = sub.add_parser("health", help="ask a service's grpc.health.v1 status; exit 0 only when SERVING (container health checks)")
    health.add_argument("address", help="HOST:PORT of the service")
    health.add_argument("--service", default="", help="a full service name, e.g. verity.v1.Verifier (default: the whole server)")
    health.add_argument("--timeout-s", type=float, default=2.0, help="how long to wait for the answer")
    health.set_defaults(func=_health)

    ev = sub.add_parser("eval", help="evaluate a checkpoint on a held-out JSONL/Parquet file")
    ev.add_argument("--checkpoint", required=True, help="a checkpoint folder, a run folder (its newest checkpoint), or a run name's folder such as runs/quickstart (its latest run's newest checkpoint)")
    ev.add_argument("--data", required=True, help="test.jsonl or .parquet")
    ev.add_argument("overrides", nargs="*", help="key.sub=value overrides, e.g. eval.max_new_tokens=64")
    ev.set_defaults(func=_eval)
    return parser


def _stop_on_sigterm(signum, frame) -> None:
    """SIGTERM (docker stop, kill, torchrun stopping its workers) as an exit that runs the cleanup:
    the local services a command started stop with it instead of outliving it."""
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command in ("train", "score", "eval"):  # verity serve shuts down gracefully on its own
        signal.signal(signal.SIGTERM, _stop_on_sigterm)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
