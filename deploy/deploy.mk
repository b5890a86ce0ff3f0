# Deployment: the container image and its tests (see doc/operations.md, "Deployment").
#   make image          build taskmgmt:latest (podman; base image made from
#                       Debian's archive when no registry has it)
#   make test-deploy    the deploy test suites only (image, compose, k8s, upgrades)
IMAGE ?= localhost/taskmgmt:latest

.PHONY: image test-deploy deploy-tools

deploy-tools:
	@deploy/tools.sh

# shim-docs: Redoc for /docs, web: the UI in web/dist, both from npm on the
# host (the image build needs no npm)
image: deploy-tools
	@if [ -f shim/shim.mk ]; then $(MAKE) --no-print-directory -s shim-docs; fi
	@if [ -f web/web.mk ]; then $(MAKE) --no-print-directory -s web; fi
	@deploy/base-image.sh
	deploy/podman.sh build --pull=never --layers -t $(IMAGE) -f Dockerfile .

test-deploy:
	@SUITES="deploy deploy-kube deploy-upgrade" TEST_CLUSTER=$${TEST_CLUSTER:-test-deploy} \
	  TEST_DB_PORT=$${TEST_DB_PORT:-54407} scripts/test.sh
