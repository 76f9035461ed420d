"""The plugin API, on the ground floor: the contract a sensor plugin fills (`contract`), the
hook it implements (`hookspecs`), and the manager that loads plugins, each isolated (`manager`).
`contract` and `hookspecs` import nothing of cae."""
