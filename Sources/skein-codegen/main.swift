import Foundation
import SkeinCodegen

// Usage: skein-codegen [SPEC_ROOT] [OUTPUT_DIR]
// SPEC_ROOT holds Kafka's message/, metadata/, coordinator/ and consumer-group/ folders
// (default ../shared/kafka-protocol);
// OUTPUT_DIR defaults to Sources/KafkaProtocol/Generated.
let args = CommandLine.arguments.dropFirst()
let specRoot = URL(fileURLWithPath: args.first ?? "../shared/kafka-protocol")
let output = URL(fileURLWithPath: args.dropFirst().first ?? "Sources/KafkaProtocol/Generated")
do {
  let generator = Generator(specRoot: specRoot)
  try generator.write(to: output)
  print("generated \(try generator.generate().count) files into \(output.path)")
} catch {
  FileHandle.standardError.write(Data("skein-codegen: \(error)\n".utf8))
  exit(1)
}
