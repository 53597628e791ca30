/**
 * `herald/client`: a spec-exact `EventSource` and `subscribe()` for Node and browsers.
 * Arrives with the client issue; until then this entry exports only the version.
 * @packageDocumentation
 */

/** The version of the client entry point's API. */
export const CLIENT_API_VERSION = 0;
