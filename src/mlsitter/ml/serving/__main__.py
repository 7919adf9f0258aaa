"""``python -m mlsitter.ml.serving server|router ...``: how the deploy process starts servers as their own
OS processes (``mlsitter serve`` runs the same functions)."""

from __future__ import annotations

import argparse
import sys

from mlsitter.errors import MlsitterError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mlsitter.ml.serving")
    sub = parser.add_subparsers(dest="kind", required=True)
    server = sub.add_parser("server", help="serve one registered model version")
    server.add_argument("model")
    server.add_argument("--host", default="127.0.0.1")
    server.add_argument("--port", type=int, default=8000)
    server.add_argument("--role", default="champion")
    server.add_argument("--log-dir", required=True)
    server.add_argument("--sample", type=float, default=1.0)
    server.add_argument("--log-max-bytes", type=int, default=64 * 1024 * 1024,
                        help="rotate the prediction log at this size (0: never by size)")
    server.add_argument("--log-max-seconds", type=float, default=0.0,
                        help="rotate the prediction log this long after it was opened (0: never by age)")
    server.add_argument("--log-keep", type=int, default=0, help="rotated files kept, the oldest deleted (0: all)")
    server.add_argument("--feature-repo", default="", help="a Feast repo: absent inputs are fetched from its online "
                                                           "store by the records' entity keys")
    server.add_argument("--features", default="", help="with --feature-repo: comma-separated view:feature or view "
                                                       "names (default: every online feature the model takes)")
    router = sub.add_parser("router", help="route between a champion and a candidate server")
    router.add_argument("--host", default="127.0.0.1")
    router.add_argument("--port", type=int, default=8080)
    router.add_argument("--log-dir", required=True)
    router.add_argument("--champion", required=True)
    router.add_argument("--champion-version", required=True)
    router.add_argument("--candidate", default="")
    router.add_argument("--candidate-version", default="")
    router.add_argument("--weight", type=float, default=0.0)
    router.add_argument("--shadow", action="store_true")
    router.add_argument("--admin-token-file", default=None,
                        help="file holding the bearer token that PUT /admin/traffic must carry (without one the "
                             "split is fixed)")
    args = parser.parse_args(argv)
    try:
        if args.kind == "server":
            from mlsitter.ml.serving._prediction_log import LogRotation
            from mlsitter.ml.serving._server import serve_model

            serve_model(args.model, host=args.host, port=args.port, role=args.role, log_dir=args.log_dir,
                        sample=args.sample, rotation=LogRotation(args.log_max_bytes, args.log_max_seconds,
                                                                 args.log_keep), feature_repo=args.feature_repo,
                        features=[f.strip() for f in args.features.split(",") if f.strip()] or None)
        else:
            from mlsitter.ml.serving._router import serve_router

            serve_router(host=args.host, port=args.port, log_dir=args.log_dir, champion=args.champion,
                         champion_version=args.champion_version, candidate=args.candidate,
                         candidate_version=args.candidate_version, weight=args.weight, shadow=args.shadow,
                         admin_token_file=args.admin_token_file)
    except MlsitterError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
