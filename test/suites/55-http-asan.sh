#!/usr/bin/env bash
# The HTTP suite again, against the shim built with AddressSanitizer and
# UndefinedBehaviorSanitizer; any sanitizer report fails the suite.
exec env SUITE_NAME=http-asan SHIM_VARIANT=asan bash "$(dirname "$0")/50-http.sh"
