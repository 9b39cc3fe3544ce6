"""A local Genesys Cloud: OAuth, notifications REST and websockets on one port, with faults and ground truth."""

from emulator.config import EmulatorConfig
from emulator.server import EmulatorServer

__all__ = ["EmulatorConfig", "EmulatorServer"]
