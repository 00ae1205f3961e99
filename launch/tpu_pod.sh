#!/usr/bin/env bash
# Starts the same `python -m launch.train --distributed ...` on every worker of a TPU VM pod.
#
#   TPU_NAME=my-v4-32 ZONE=us-central2-b launch/tpu_pod.sh \
#       --config configs/ser.py --workdir /mnt/shared/ser_fold1 --config.init=/mnt/shared/wav2vec2-base
#
# Environment:
#   TPU_NAME   (required) the TPU VM name, as in `gcloud compute tpus tpu-vm list`
#   ZONE       (required) its zone
#   PROJECT    GCP project (default: gcloud's configured one)
#   REPO_DIR   checkout of recovery-jax on every worker, with its .venv (default: ~/recovery-jax)
#
# On TPU, jax.distributed.initialize() reads coordinator, process count and id from the TPU metadata,
# so no --coordinator/--num_processes/--process_id. Every worker must see the same --workdir (a shared
# filesystem such as Filestore/NFS or a gcsfuse mount at one path): orbax writes one checkpoint from
# all processes and every process resumes from it.
set -euo pipefail
: "${TPU_NAME:?set TPU_NAME}" "${ZONE:?set ZONE}"
REPO_DIR=${REPO_DIR:-'~/recovery-jax'}
# Quote every argument once so the remote shell sees them as typed here.
ARGS=$(printf ' %q' "$@")
gcloud compute tpus tpu-vm ssh "$TPU_NAME" --zone="$ZONE" ${PROJECT:+--project="$PROJECT"} --worker=all \
  --command="cd $REPO_DIR && .venv/bin/python -m launch.train --distributed$ARGS"
