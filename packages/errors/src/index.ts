export {
  AppError,
  AlreadyExistsError,
  Code,
  codeName,
  DeadlineExceededError,
  FailedPreconditionError,
  InvalidArgumentError,
  NotFoundError,
  PermissionDeniedError,
  ResourceExhaustedError,
  UnauthenticatedError,
  UnavailableError,
} from './app-error';
export type { ErrorMetadata } from './app-error';
