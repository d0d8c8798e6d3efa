"""What every dactyl node shares on the ROS side: entry point, parameters, QoS, message conversions."""
