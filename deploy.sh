#!/usr/bin/env bash
# Provision and deploy the thumbnail pipeline to Google Cloud, idempotently; or tear it down.
# Run `./deploy.sh --help` for every option.
set -euo pipefail

readonly FUNCTION_VARIABLES=(
  OUTPUT_PREFIX OUTPUT_NAME THUMBNAIL_SIZES THUMBNAIL_MODE THUMBNAIL_FORMAT THUMBNAIL_QUALITY THUMBNAIL_BACKGROUND
  THUMBNAIL_CACHE_CONTROL THUMBNAIL_CONTENT_DISPOSITION KEEP_EXIF_CREDITS COPY_SOURCE_METADATA INCLUDE_PATTERNS
  EXCLUDE_PATTERNS RESULT_TOPIC MAX_INPUT_BYTES MAX_INPUT_PIXELS ANIMATION MAX_ANIMATION_FRAMES MAX_ANIMATION_PIXELS
  FAILURE_PREFIX DELETE_SOURCE STORAGE_RETRY_SECONDS STORAGE_TIMEOUT_SECONDS MAX_RETRY_AGE LOG_LEVEL
)
readonly APIS=(
  cloudfunctions.googleapis.com run.googleapis.com cloudbuild.googleapis.com artifactregistry.googleapis.com
  eventarc.googleapis.com pubsub.googleapis.com storage.googleapis.com logging.googleapis.com
)
SOURCE_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
readonly SOURCE_DIR

usage() {
  cat <<'EOF'
Usage: ./deploy.sh --project ID [options]            deploy (safe to re-run)
       ./deploy.sh --project ID --teardown [options]  remove what deploy created

Every option can also be given as the environment variable in brackets; a flag wins.

  --project ID            Google Cloud project id [PROJECT_ID, else GOOGLE_CLOUD_PROJECT]; required
  --region REGION         region of the function, its trigger and the buckets [REGION] (us-central1)
  --input-bucket NAME     bucket whose uploads are thumbnailed [INPUT_BUCKET] (PROJECT-thumbnailer-input)
  --output-bucket NAME    bucket the thumbnails go to [OUTPUT_BUCKET] (PROJECT-thumbnailer-output)
  --function NAME         function name [FUNCTION_NAME] (image-processor)
  --memory SIZE           memory per instance, e.g. 512Mi, 1Gi [MEMORY] (1Gi)
  --cpu N                 vCPUs per instance, e.g. 1, 0.5; empty: gcloud's default for the memory [CPU] (1)
  --timeout SECONDS       per-event timeout, 1-540 [TIMEOUT] (120)
  --concurrency N         events one instance handles at once, 1-1000; >1 needs --cpu >= 1 [CONCURRENCY] (4)
                          (defaults from bench/RESULTS.md: README, "Sizing the function")
  --max-instances N       upper bound on instances [MAX_INSTANCES] (10)
  --retry | --no-retry    redeliver failed events for up to 24 h [RETRY=true|false] (--retry)
  --set VAR=VALUE         a thumbnail setting for the function, repeatable; the variables
                          OUTPUT_PREFIX OUTPUT_NAME THUMBNAIL_SIZES THUMBNAIL_MODE THUMBNAIL_FORMAT
                          THUMBNAIL_QUALITY THUMBNAIL_BACKGROUND THUMBNAIL_CACHE_CONTROL
                          THUMBNAIL_CONTENT_DISPOSITION KEEP_EXIF_CREDITS COPY_SOURCE_METADATA
                          INCLUDE_PATTERNS EXCLUDE_PATTERNS RESULT_TOPIC MAX_INPUT_BYTES MAX_INPUT_PIXELS
                          ANIMATION MAX_ANIMATION_FRAMES MAX_ANIMATION_PIXELS FAILURE_PREFIX DELETE_SOURCE
                          STORAGE_RETRY_SECONDS STORAGE_TIMEOUT_SECONDS MAX_RETRY_AGE LOG_LEVEL
                          are also taken from the environment (README lists their meaning);
                          DELETE_SOURCE=true also lets the runtime account delete uploads;
                          RESULT_TOPIC=projects/P/topics/T creates that topic if absent and
                          lets the runtime account publish to it (teardown keeps the topic)
  --dry-run               print every gcloud command, one per line, and run none
  --teardown              delete the function, its service accounts and IAM grants; buckets
                          only with --delete-buckets, and only empty ones unless --delete-objects
  --delete-buckets        (teardown) also delete the two buckets if they are empty
  --delete-objects        (teardown) with --delete-buckets: delete buckets even if they hold objects
  --yes                   (teardown) do not ask for confirmation
  -h, --help              this text

Exit status: 0 done, 1 a gcloud command failed (the steps after it did not run; fix the
cause and re-run, every step is safe to repeat), 2 bad usage or input, 3 no gcloud here
(nothing was run for 2 and 3).
EOF
}

fail_usage() {
  printf 'deploy.sh: %s\n' "$1" >&2
  printf "Run './deploy.sh --help' for the options.\n" >&2
  exit 2
}

# --- inputs -------------------------------------------------------------------------
PROJECT="${PROJECT_ID:-${GOOGLE_CLOUD_PROJECT:-}}"
REGION="${REGION:-us-central1}"
INPUT="${INPUT_BUCKET:-}"
OUTPUT="${OUTPUT_BUCKET:-}"
FUNCTION="${FUNCTION_NAME:-image-processor}"
MEMORY="${MEMORY:-1Gi}"
CPU="${CPU-1}"
TIMEOUT="${TIMEOUT:-120}"
CONCURRENCY="${CONCURRENCY:-4}"
MAX_INSTANCES="${MAX_INSTANCES:-10}"
RETRY="${RETRY:-true}"
DRY_RUN=false
TEARDOWN=false
DELETE_BUCKETS=false
DELETE_OBJECTS=false
ASSUME_YES=false
declare -A SETTINGS=()
for variable in "${FUNCTION_VARIABLES[@]}"; do
  if [[ -n "${!variable:-}" ]]; then SETTINGS[$variable]="${!variable}"; fi
done

value_of() {  # value_of FLAG "$@": the argument after FLAG, or a usage error
  [[ $# -ge 2 && -n "$2" ]] || fail_usage "$1 needs a value"
  printf '%s' "$2"
}

while [[ $# -gt 0 ]]; do
  case "$1" in
    --project) PROJECT="$(value_of "$@")"; shift 2 ;;
    --region) REGION="$(value_of "$@")"; shift 2 ;;
    --input-bucket) INPUT="$(value_of "$@")"; shift 2 ;;
    --output-bucket) OUTPUT="$(value_of "$@")"; shift 2 ;;
    --function) FUNCTION="$(value_of "$@")"; shift 2 ;;
    --memory) MEMORY="$(value_of "$@")"; shift 2 ;;
    --cpu) CPU="$(value_of "$@")"; shift 2 ;;
    --timeout) TIMEOUT="$(value_of "$@")"; shift 2 ;;
    --concurrency) CONCURRENCY="$(value_of "$@")"; shift 2 ;;
    --max-instances) MAX_INSTANCES="$(value_of "$@")"; shift 2 ;;
    --retry) RETRY=true; shift ;;
    --no-retry) RETRY=false; shift ;;
    --set)
      pair="$(value_of "$@")"
      name="${pair%%=*}"
      [[ "$pair" == *=* ]] || fail_usage "--set takes VAR=VALUE, got '$pair'"
      [[ " ${FUNCTION_VARIABLES[*]} " == *" $name "* ]] || fail_usage "--set: unknown setting '$name'"
      SETTINGS[$name]="${pair#*=}"
      shift 2 ;;
    --dry-run) DRY_RUN=true; shift ;;
    --teardown) TEARDOWN=true; shift ;;
    --delete-buckets) DELETE_BUCKETS=true; shift ;;
    --delete-objects) DELETE_OBJECTS=true; shift ;;
    --yes|-y) ASSUME_YES=true; shift ;;
    -h|--help) usage; exit 0 ;;
    *) fail_usage "unknown argument '$1'" ;;
  esac
done

INPUT="${INPUT:-${PROJECT}-thumbnailer-input}"
OUTPUT="${OUTPUT:-${PROJECT}-thumbnailer-output}"

# --- validation: all of it before any cloud call ------------------------------------------
[[ -n "$PROJECT" ]] || fail_usage "the project is required: --project ID (or PROJECT_ID)"
[[ "$PROJECT" =~ ^[a-z][a-z0-9-]{4,28}[a-z0-9]$ ]] \
  || fail_usage "--project '$PROJECT' is not a project id (6-30 lower-case letters, digits, hyphens)"
[[ "$REGION" =~ ^[a-z]+-[a-z]+[0-9]+$ ]] || fail_usage "--region '$REGION' is not a region such as us-central1"
for bucket in "$INPUT" "$OUTPUT"; do
  [[ "$bucket" =~ ^[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]$ && "$bucket" != *..* ]] \
    || fail_usage "'$bucket' is not a bucket name (3-63 lower-case letters, digits, -, _ and ., no gs://)"
done
[[ "$INPUT" != "$OUTPUT" ]] || fail_usage "the input and output buckets must differ"
[[ "$FUNCTION" =~ ^[a-z][a-z0-9-]{0,48}[a-z0-9]$ ]] \
  || fail_usage "--function '$FUNCTION' is not a function name (lower-case letters, digits, hyphens; up to 50)"
[[ "$MEMORY" =~ ^[1-9][0-9]*(Mi|Gi)$ ]] || fail_usage "--memory '$MEMORY' is not a size such as 256Mi or 1Gi"
[[ -z "$CPU" || "$CPU" =~ ^([1-9][0-9]*|0\.[0-9]+|[1-9][0-9]*\.[0-9]+)$ ]] \
  || fail_usage "--cpu '$CPU' is not a number of vCPUs such as 1 or 0.5"
is_int_in() { [[ "$1" =~ ^[1-9][0-9]*$ ]] && (("$1" >= $2 && "$1" <= $3)); }
is_int_in "$TIMEOUT" 1 540 || fail_usage "--timeout '$TIMEOUT' is not a whole number of seconds in 1..540"
is_int_in "$CONCURRENCY" 1 1000 || fail_usage "--concurrency '$CONCURRENCY' is not a whole number in 1..1000"
is_int_in "$MAX_INSTANCES" 1 1000 || fail_usage "--max-instances '$MAX_INSTANCES' is not a whole number in 1..1000"
if ((CONCURRENCY > 1)); then
  if [[ -z "$CPU" ]] || ! awk -v cpu="$CPU" 'BEGIN { exit !(cpu >= 1) }'; then
    fail_usage "--concurrency $CONCURRENCY needs --cpu 1 or more (Cloud Run serves concurrent requests only then)"
  fi
fi
[[ "$RETRY" == true || "$RETRY" == false ]] || fail_usage "RETRY must be true or false, not '$RETRY'"
for name in "${!SETTINGS[@]}"; do
  # "@" separates the variables on gcloud's command line (see the deploy step).
  [[ "${SETTINGS[$name]}" != *@* ]] || fail_usage "$name: values cannot contain '@' when deployed with deploy.sh"
done

# The function checks its settings at cold start; check them here too, with the same code,
# so a typo stops the deploy instead of a crash-looping revision.
check_function_settings() {
  local python=""
  for candidate in "$SOURCE_DIR/.venv/bin/python" python3; do
    if "$candidate" -c 'import PIL' >/dev/null 2>&1; then python="$candidate"; break; fi
  done
  if [[ -z "$python" ]]; then
    printf 'deploy.sh: note: no Python with Pillow here, so thumbnail settings are checked at cold start only\n' >&2
    return 0
  fi
  local -a environment=("OUTPUT_BUCKET=$OUTPUT")
  for name in "${!SETTINGS[@]}"; do environment+=("$name=${SETTINGS[$name]}"); done
  local message
  if ! message="$(cd "$SOURCE_DIR" && env -i PATH="$PATH" "${environment[@]}" "$python" -c '
import os, sys
from thumbnailer.config import ConfigError, Settings
try:
    Settings.from_environ(os.environ)
except ConfigError as error:
    sys.exit(str(error))
' 2>&1)"; then
    fail_usage "bad thumbnail setting: $message"
  fi
}
check_function_settings

RUN_SA="${FUNCTION:0:26}-run"
TRIGGER_SA="${FUNCTION:0:22}-trigger"
RUN_SA_EMAIL="$RUN_SA@$PROJECT.iam.gserviceaccount.com"
TRIGGER_SA_EMAIL="$TRIGGER_SA@$PROJECT.iam.gserviceaccount.com"

# --- running gcloud ------------------------------------------------------------------------
say() { printf '==> %s\n' "$*" >&2; }

if [[ "$DRY_RUN" == false ]] && ! command -v gcloud >/dev/null; then
  printf 'deploy.sh: gcloud is not installed: https://cloud.google.com/sdk/docs/install\n' >&2
  exit 3
fi

gcloud_failed() {  # gcloud_failed STATUS ARGS...: stop, naming the command that failed
  local status="$1"
  shift
  printf "deploy.sh: 'gcloud %s' failed (exit %s); the steps after it did not run.\n" "$*" "$status" >&2
  printf 'Fix the cause above and run deploy.sh again: every step is safe to repeat.\n' >&2
  exit 1
}

# The --dry-run plan goes to file descriptor 3, the script's stdout, so that commands
# printed inside $(...) are not captured.
exec 3>&1

# gcloud_run ARGS...: run gcloud (or, with --dry-run, print it shell-quoted and run nothing).
gcloud_run() {
  if [[ "$DRY_RUN" == true ]]; then
    local quoted
    printf -v quoted '%q ' gcloud "$@"
    printf '%s\n' "${quoted% }" >&3
    return 0
  fi
  command gcloud "$@" || gcloud_failed "$?" "$@"
}

# exists ARGS...: whether a describe command finds the resource. A dry run assumes the
# resources are absent when deploying and present when tearing down, to show every step.
exists() {
  if [[ "$DRY_RUN" == true ]]; then
    gcloud_run "$@"
    [[ "$TEARDOWN" == true ]]
    return
  fi
  command gcloud "$@" >/dev/null 2>&1
}

# grant ARGS...: an add-iam-policy-binding for a service account that may have been
# created seconds ago. IAM takes a while to know a new account and says it "does not
# exist" meanwhile: retry that (for about a minute), and nothing else.
grant() {
  if [[ "$DRY_RUN" == true ]]; then
    gcloud_run "$@"
    return 0
  fi
  local delay=2 errors status
  while true; do
    status=0
    errors="$(command gcloud "$@" 2>&1)" || status=$?
    if ((status == 0)); then return 0; fi
    if [[ "$errors" != *"does not exist"* ]] || ((delay > 32)); then
      printf '%s\n' "$errors" >&2
      gcloud_failed "$status" "$@"
    fi
    say "IAM does not know the new service account yet; trying again in ${delay}s"
    sleep "$delay"
    delay=$((delay * 2))
  done
}

# revoke ARGS...: a remove-iam-policy-binding; a grant that is not there is not an error.
revoke() {
  if [[ "$DRY_RUN" == true ]]; then
    gcloud_run "$@"
    return 0
  fi
  local errors status=0
  errors="$(command gcloud "$@" 2>&1)" || status=$?
  if ((status == 0)); then return 0; fi
  if [[ "$errors" == *"not found"* ]]; then
    say "(that grant was not there)"
    return 0
  fi
  printf '%s\n' "$errors" >&2
  gcloud_failed "$status" "$@"
}

# topic_project projects/P/topics/T: P
topic_project() {
  local project="${1#projects/}"
  printf '%s' "${project%%/*}"
}

# bucket_location NAME: the bucket's location in lower case, or status 1 if it is absent.
bucket_location() {
  if [[ "$DRY_RUN" == true ]]; then
    exists storage buckets describe "gs://$1" --project="$PROJECT" --format='value(location)'
    return
  fi
  local location
  location="$(command gcloud storage buckets describe "gs://$1" --project="$PROJECT" --format='value(location)' \
    2>/dev/null)" || return 1
  printf '%s' "${location,,}"
}

# --- deploy --------------------------------------------------------------------------------
deploy() {
  say "Enabling APIs in $PROJECT"
  gcloud_run services enable "${APIS[@]}" --project="$PROJECT" --quiet

  # Eventarc watches a bucket from the bucket's own location, so an existing input bucket
  # elsewhere (a multi-region such as "us") decides where the trigger lives.
  local trigger_location="$REGION" bucket location
  for bucket in "$INPUT" "$OUTPUT"; do
    if location="$(bucket_location "$bucket")"; then
      say "Bucket gs://$bucket exists (location $location)"
      if [[ "$bucket" == "$INPUT" ]]; then trigger_location="$location"; fi
    else
      say "Creating bucket gs://$bucket in $REGION"
      gcloud_run storage buckets create "gs://$bucket" --project="$PROJECT" --location="$REGION" \
        --uniform-bucket-level-access --public-access-prevention
    fi
  done

  local account
  for account in "$RUN_SA:thumbnailer runtime ($FUNCTION)" "$TRIGGER_SA:thumbnailer trigger ($FUNCTION)"; do
    local id="${account%%:*}"
    if exists iam service-accounts describe "$id@$PROJECT.iam.gserviceaccount.com" --project="$PROJECT"; then
      say "Service account $id exists"
    else
      say "Creating service account $id"
      gcloud_run iam service-accounts create "$id" --project="$PROJECT" --display-name="${account#*:}"
    fi
  done

  # Read only on the input, unless the function is to delete each upload once it is done.
  local input_role=roles/storage.objectViewer delete_source="${SETTINGS[DELETE_SOURCE]:-false}"
  delete_source="${delete_source//[[:space:]]/}"  # as the function reads it: trimmed, any case
  if [[ "${delete_source,,}" =~ ^(true|1|yes|on)$ ]]; then
    input_role=roles/storage.objectUser
  fi
  say "Granting the runtime account ${input_role#roles/storage.} on gs://$INPUT and objectUser on gs://$OUTPUT"
  grant storage buckets add-iam-policy-binding "gs://$INPUT" --project="$PROJECT" \
    --member="serviceAccount:$RUN_SA_EMAIL" --role="$input_role" --format=none --quiet
  # objectUser, not objectCreator: writes are conditional on what exists (get), and a new
  # upload under the same name replaces its thumbnail (an overwrite needs delete).
  grant storage buckets add-iam-policy-binding "gs://$OUTPUT" --project="$PROJECT" \
    --member="serviceAccount:$RUN_SA_EMAIL" --role=roles/storage.objectUser --format=none --quiet

  say "Granting the trigger account the Eventarc event receiver role"
  grant projects add-iam-policy-binding "$PROJECT" --member="serviceAccount:$TRIGGER_SA_EMAIL" \
    --role=roles/eventarc.eventReceiver --condition=None --format=none --quiet

  say "Letting Cloud Storage publish notifications to Pub/Sub"
  local agent
  if [[ "$DRY_RUN" == true ]]; then
    gcloud_run storage service-agent --project="$PROJECT"
    agent="service-PROJECT_NUMBER@gs-project-accounts.iam.gserviceaccount.com"
  else
    agent="$(gcloud_run storage service-agent --project="$PROJECT")"
  fi
  grant projects add-iam-policy-binding "$PROJECT" --member="serviceAccount:$agent" \
    --role=roles/pubsub.publisher --condition=None --format=none --quiet

  local topic="${SETTINGS[RESULT_TOPIC]:-}"
  if [[ -n "$topic" ]]; then
    local topic_project
    topic_project="$(topic_project "$topic")"
    if exists pubsub topics describe "$topic" --project="$topic_project"; then
      say "Topic $topic exists"
    else
      say "Creating topic $topic"
      gcloud_run pubsub topics create "$topic" --project="$topic_project"
    fi
    say "Letting the runtime account publish to $topic (and to no other topic)"
    grant pubsub topics add-iam-policy-binding "$topic" --project="$topic_project" \
      --member="serviceAccount:$RUN_SA_EMAIL" --role=roles/pubsub.publisher --format=none
  fi

  say "Deploying $FUNCTION (python313, trigger: uploads to gs://$INPUT, in $trigger_location)"
  local variables="OUTPUT_BUCKET=$OUTPUT" name
  for name in $(printf '%s\n' "${!SETTINGS[@]}" | sort); do
    variables+="@${name}=${SETTINGS[$name]}"
  done
  local -a resources=(--memory="$MEMORY" --timeout="${TIMEOUT}s" --concurrency="$CONCURRENCY"
    --max-instances="$MAX_INSTANCES")
  [[ -z "$CPU" ]] || resources+=(--cpu="$CPU")
  local retry=--retry
  [[ "$RETRY" == true ]] || retry=--no-retry
  # One trigger form only (--trigger-bucket); "@" separates the variables because values
  # such as THUMBNAIL_SIZES=200x200,64x64 contain commas (gcloud's ^DELIM^ syntax).
  gcloud_run functions deploy "$FUNCTION" --gen2 --project="$PROJECT" --region="$REGION" --runtime=python313 \
    --source="$SOURCE_DIR" --entry-point=process_image --trigger-bucket="$INPUT" \
    --trigger-location="$trigger_location" --service-account="$RUN_SA_EMAIL" \
    --trigger-service-account="$TRIGGER_SA_EMAIL" "$retry" --no-allow-unauthenticated \
    --ingress-settings=internal-only "${resources[@]}" --set-env-vars="^@^$variables" --format=none --quiet

  say "Letting the trigger account invoke $FUNCTION (and nothing else)"
  grant functions add-invoker-policy-binding "$FUNCTION" --project="$PROJECT" --region="$REGION" \
    --member="serviceAccount:$TRIGGER_SA_EMAIL" --format=none

  if [[ "$DRY_RUN" == false ]]; then
    cat >&2 <<EOF

Deployed. Try it:
  gsutil cp photo.jpg gs://$INPUT/
  gsutil ls gs://$OUTPUT/
Logs:
  gcloud functions logs read $FUNCTION --project=$PROJECT --region=$REGION --gen2 --limit=50
  (or Logs Explorer: resource.type="cloud_run_revision" resource.labels.service_name="$FUNCTION")
EOF
  fi
}

# --- teardown --------------------------------------------------------------------------------
teardown() {
  if [[ "$ASSUME_YES" == false && "$DRY_RUN" == false ]]; then
    local what="function $FUNCTION, service accounts $RUN_SA and $TRIGGER_SA and their grants"
    [[ "$DELETE_BUCKETS" == false ]] || what+=", buckets gs://$INPUT and gs://$OUTPUT"
    printf 'Delete %s in %s? [y/N] ' "$what" "$PROJECT" >&2
    local answer=""
    read -r answer || true
    [[ "$answer" == y || "$answer" == Y || "$answer" == yes ]] || { say "Nothing deleted"; exit 0; }
  fi
  # The function first: its trigger and the trigger account's invoker grant go with it.
  if exists functions describe "$FUNCTION" --project="$PROJECT" --region="$REGION"; then
    say "Deleting function $FUNCTION"
    gcloud_run functions delete "$FUNCTION" --project="$PROJECT" --region="$REGION" --quiet
  else
    say "No function $FUNCTION"
  fi
  # Grants before accounts: a deleted account's grants linger as "deleted:serviceAccount:...".
  say "Removing the grants of $TRIGGER_SA and $RUN_SA"
  revoke projects remove-iam-policy-binding "$PROJECT" --member="serviceAccount:$TRIGGER_SA_EMAIL" \
    --role=roles/eventarc.eventReceiver --condition=None --format=none --quiet
  local bucket grants
  for grants in "$INPUT roles/storage.objectViewer" "$INPUT roles/storage.objectUser" \
    "$OUTPUT roles/storage.objectUser"; do
    bucket="${grants%% *}"
    if bucket_location "$bucket" >/dev/null; then
      revoke storage buckets remove-iam-policy-binding "gs://$bucket" --project="$PROJECT" \
        --member="serviceAccount:$RUN_SA_EMAIL" --role="${grants#* }" --format=none --quiet
    fi
  done
  # The result topic stays (its subscribers are someone else's); only the grant goes.
  local topic="${SETTINGS[RESULT_TOPIC]:-}"
  if [[ -n "$topic" ]] && exists pubsub topics describe "$topic" --project="$(topic_project "$topic")"; then
    revoke pubsub topics remove-iam-policy-binding "$topic" --project="$(topic_project "$topic")" \
      --member="serviceAccount:$RUN_SA_EMAIL" --role=roles/pubsub.publisher --format=none
  fi
  local id
  for id in "$RUN_SA" "$TRIGGER_SA"; do
    if exists iam service-accounts describe "$id@$PROJECT.iam.gserviceaccount.com" --project="$PROJECT"; then
      say "Deleting service account $id"
      gcloud_run iam service-accounts delete "$id@$PROJECT.iam.gserviceaccount.com" --project="$PROJECT" --quiet
    else
      say "No service account $id"
    fi
  done
  # The Cloud Storage service agent keeps roles/pubsub.publisher and the APIs stay enabled:
  # other things in the project may rely on them.
  [[ "$DELETE_BUCKETS" == true ]] || { say "Buckets kept (--delete-buckets removes empty ones)"; return 0; }
  for bucket in "$INPUT" "$OUTPUT"; do
    if ! bucket_location "$bucket" >/dev/null; then
      say "No bucket gs://$bucket"
    elif [[ "$DELETE_OBJECTS" == true ]]; then
      say "Deleting bucket gs://$bucket and every object in it"
      gcloud_run storage rm --recursive "gs://$bucket" --project="$PROJECT" --quiet
    elif [[ "$DRY_RUN" == false && -n "$(gcloud_run storage ls "gs://$bucket" --project="$PROJECT" | head -1)" ]]; then
      say "Bucket gs://$bucket still holds objects: kept (--delete-objects deletes them too)"
    else
      say "Deleting empty bucket gs://$bucket"
      gcloud_run storage buckets delete "gs://$bucket" --project="$PROJECT" --quiet
    fi
  done
}

if [[ "$TEARDOWN" == true ]]; then teardown; else deploy; fi
