"""In-process fakes of outside services, served over real sockets."""
