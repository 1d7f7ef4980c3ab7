"""A labgrid resource and driver for a radio shared by `radio-cli serve`.

The resource names the daemon's URL; the driver runs radio-cli against it.
Activating the driver takes the daemon's write lease (kept, so that it
survives between radio-cli calls) and deactivating it gives it back, so a
labgrid test holds the radio's settings for as long as it holds the place.

Load it from the environment file (`imports: [radio_driver.py]`, see
env.yaml in this directory).
"""
import json
import subprocess

import attr

from labgrid.driver.common import Driver
from labgrid.factory import target_factory
from labgrid.resource.common import Resource
from labgrid.step import step


@target_factory.reg_resource
@attr.s(eq=False)
class RadioDaemonPort(Resource):
    """A `radio-cli serve` daemon: its port (tcp://HOST:PORT, unix:///PATH,
    or a name from the radio lab file)."""
    url = attr.ib(validator=attr.validators.instance_of(str))

    def __attrs_post_init__(self):
        super().__attrs_post_init__()
        self.avail = True


@target_factory.reg_driver
@attr.s(eq=False)
class RadioCliDriver(Driver):
    """Drives the radio through radio-cli; holds its lease while active."""
    bindings = {"port": "RadioDaemonPort"}
    lease_for = attr.ib(default="8h", validator=attr.validators.instance_of(str))
    reason = attr.ib(default="labgrid", validator=attr.validators.instance_of(str))
    binary = attr.ib(default="radio-cli", validator=attr.validators.instance_of(str))

    def __attrs_post_init__(self):
        super().__attrs_post_init__()
        self._token = None

    def _run(self, *args, lease=True):
        env = None
        if lease and self._token:
            import os
            env = dict(os.environ, RADIO_LEASE=self._token)
        result = subprocess.run([self.binary, *args, "--port", self.port.url, "--json"],
                                capture_output=True, text=True, env=env, check=False)
        if result.returncode != 0:
            raise RuntimeError(f"radio-cli {' '.join(args)}: {result.stderr.strip()} (exit {result.returncode})")
        return json.loads(result.stdout) if result.stdout.strip() else None

    def on_activate(self):
        reply = self._run("lock", "--keep", "--for", self.lease_for, "--reason", self.reason, lease=False)
        self._token = reply["token"]

    def on_deactivate(self):
        if self._token:
            self._run("unlock", "--token", self._token, lease=False)
        self._token = None

    @Driver.check_active
    @step(args=["dbm"])
    def set_power(self, dbm):
        return self._run("set-power", str(dbm))["power_dbm"]

    @Driver.check_active
    @step(args=["channel"])
    def set_channel(self, channel):
        return self._run("set-channel", str(channel))["channel"]

    @Driver.check_active
    @step()
    def get_state(self):
        return self._run("get-state")

    @Driver.check_active
    @step()
    def who(self):
        return self._run("who")["lease"]
