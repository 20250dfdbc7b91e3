{
  "targets": [
    {
      "target_name": "log_crypto",
      "sources": ["log_crypto.c"],
      "cflags": ["-O2", "-Wall", "-Wextra"]
    }
  ]
}
