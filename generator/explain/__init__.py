"""Why the generated repository is the way it is: one catalog of explanations
(`catalog`), which files and lines each one covers (`files`), and the answers of
`clusterforge explain` (`answer`). The generated guide reads the same catalog, so
every explanation has one source."""
