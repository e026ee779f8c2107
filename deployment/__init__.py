"""deploy.sh's logic: provisioning and deploying with the gcloud CLI, and teardown.

Python behind the shell script users run, because the steps compare and build
structured things (IAM policies, settings checked by the function's own parsers,
monitoring definitions to come) that read and test better here than in bash. Never
deployed (.gcloudignore keeps it home).
"""
