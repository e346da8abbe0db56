# The trained model file, made by the trainer in the build sandbox: the training
# data is compiled into `wine-train`, and its default seed gives the same bytes on
# every build. Written in the build directory first, since the trainer writes a
# temporary file beside its output.
{
  runCommand,
  servers,
}:
runCommand "wine.model" { nativeBuildInputs = [ servers ]; } ''
  wine-train --out wine.model
  install -m 0444 wine.model "$out"
''
