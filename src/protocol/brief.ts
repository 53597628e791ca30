// Whether error messages are brief: true only in the browser bundle, whose build defines
// HERALD_BRIEF_MESSAGES (scripts/build-client-bundle.mjs); the bundler then keeps only the brief
// texts. Node, Deno and Bun (dist/, through tsc) keep the full sentences.

declare const HERALD_BRIEF_MESSAGES: boolean | undefined;

/**
 * True in the browser bundle: messages name what was wrong in a few words and point to
 * {@link ERRORS_DOC} for what to do, instead of a full sentence.
 */
export const BRIEF = typeof HERALD_BRIEF_MESSAGES === 'boolean' && HERALD_BRIEF_MESSAGES;

/** The end of a brief message: where the error table says what each failure means and what to do. */
export const ERRORS_DOC = ' (see herald docs/client.md#errors)';
