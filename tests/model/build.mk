# tests/model/build.mk - the directory protocol, model-checked: SPIN checks
# tests/model/vmshm.pml exhaustively in a few small configurations, and
# shows that deliberately broken variants fail (docs/MODEL.md).
.PHONY: model-test
model-test:
	@sh tests/model/run.sh

TEST_STEPS += model-test
