// Module HostProbe.
