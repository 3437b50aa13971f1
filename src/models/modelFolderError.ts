/** A user-facing failure with a message that names the file and says what to do. */
export class ModelFolderError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ModelFolderError';
  }
}
