/**
 * `herald/react`: the `useSubscription` hook, `subscribe()` from `herald/client` bound to a
 * component's lifetime. React (≥ 18) is an optional peer dependency of Herald: only this entry
 * point imports it.
 * @packageDocumentation
 */
export type {
  EventMap,
  HeraldEvent,
  HeraldEventOf,
  StringEvents,
} from '../client/subscribe.js';
export type {
  SubscriptionState,
  SubscriptionStatus,
  UseSubscriptionOptions,
} from './types.js';
export { useSubscription } from './use-subscription.js';
