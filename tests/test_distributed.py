"""When and how `jax.distributed.initialize` is called (no process is started here)."""

import logging

import pytest

from rvs_jax import sharding


@pytest.mark.parametrize("environ", [
    {}, {"SLURM_NTASKS": "1", "SLURM_JOB_ID": "7"}, {"OMPI_COMM_WORLD_SIZE": "1"},
    {"KUBERNETES_SERVICE_HOST": "10.0.0.1"}, {"TPU_WORKER_HOSTNAMES": "localhost"},
    {"JAX_NUM_PROCESSES": "1"}])
def test_single_process_environments_do_not_initialise(environ):
  assert sharding.distributed_request(environ) is None


@pytest.mark.parametrize("environ", [
    {"SLURM_NTASKS": "4"}, {"OMPI_COMM_WORLD_SIZE": "8"},
    {"KUBERNETES_SERVICE_HOST": "10.0.0.1", "JOB_COMPLETION_INDEX": "0"},
    {"TPU_WORKER_HOSTNAMES": "t1v-0,t1v-1,t1v-2,t1v-3"},
    {"TPU_PROCESS_ADDRESSES": "10.0.0.2:8476,10.0.0.3:8476"}])
def test_clusters_leave_everything_to_jax_detection(environ):
  assert sharding.distributed_request(environ) == {}


def test_manual_launch_with_jax_variables():
  env = dict(JAX_COORDINATOR_ADDRESS="10.0.0.1:1234", JAX_NUM_PROCESSES="2",
             JAX_PROCESS_ID="1")
  assert sharding.distributed_request(env) == dict(
      coordinator_address="10.0.0.1:1234", num_processes=2, process_id=1)
  # The coordinator alone (count and id from a detected cluster), or the count alone.
  assert sharding.distributed_request({"JAX_COORDINATOR_ADDRESS": "h:1"}) == dict(
      coordinator_address="h:1")
  assert sharding.distributed_request({"JAX_NUM_PROCESSES": "16"}) == dict(
      num_processes=16)
  with pytest.raises(ValueError, match="JAX_PROCESS_ID='one'"):
    sharding.distributed_request(dict(env, JAX_PROCESS_ID="one"))


def test_old_variables_still_work_with_a_warning(caplog):
  env = dict(RVS_JAX_COORDINATOR="h:9", RVS_JAX_NUM_PROCESSES="2",
             RVS_JAX_PROCESS_ID="0")
  with caplog.at_level(logging.WARNING):
    got = sharding.distributed_request(env)
  assert got == dict(coordinator_address="h:9", num_processes=2, process_id=0)
  assert "RVS_JAX_COORDINATOR is deprecated: set JAX_COORDINATOR_ADDRESS" in caplog.text
  # JAX's own variable wins over the old one.
  assert sharding.distributed_request(dict(env, JAX_COORDINATOR_ADDRESS="j:1"))[
      "coordinator_address"] == "j:1"
