{
  "targets": [
    {
      "target_name": "ecdsa_digest",
      "sources": ["ecdsa_digest.c"],
      "cflags": ["-O2", "-Wall", "-Wextra"]
    }
  ]
}
