# A tiny stand-in for the BOSH director's template rendering, for tests:
#
#   ruby render.rb JOB_DIR TEMPLATE PROPERTIES.json
#
# renders JOB_DIR/TEMPLATE (a path under the job, e.g. templates/env.erb or
# monit) the way BOSH does: ERB with trim mode "-", evaluated with p(),
# if_p() and spec, where the properties are the manifest's (the JSON file,
# nested as in a manifest) over the spec's defaults, and only properties the
# job's spec declares can be read. It prints the result, or the template's
# error and exits 1.
require 'erb'
require 'json'
require 'yaml'

job_dir, template, props_file = ARGV
spec = YAML.safe_load(File.read(File.join(job_dir, 'spec')))
manifest = JSON.parse(File.read(props_file))

class RenderContext
  Spec = Struct.new(:name, :index, :id, :address, :ip, :deployment, :bootstrap, :az)

  # The else of if_p.
  class Else
    def initialize(run)
      @run = run
    end

    def else
      yield if @run
    end
  end

  attr_reader :spec

  def initialize(job_spec, manifest)
    @declared = job_spec['properties'] || {}
    @manifest = manifest
    @spec = Spec.new(job_spec['name'], 0, 'f3c6a4e0-0000-4000-8000-000000000000', '10.0.0.5', '10.0.0.5', 'locker', true, 'z1')
  end

  def lookup(name)
    raise "Can't find property '#{name}': the job's spec does not declare it" unless @declared.key?(name)
    value = name.split('.').inject(@manifest) { |h, k| h.is_a?(Hash) ? h[k] : nil }
    value = @declared[name]['default'] if value.nil? && @declared[name].is_a?(Hash)
    value
  end

  def p(*args)
    names = Array(args[0])
    names.each do |name|
      value = lookup(name)
      return value unless value.nil?
    end
    return args[1] if args.length == 2
    raise "Can't find property '#{names.join("', '")}'"
  end

  def if_p(*names)
    values = names.map { |name| lookup(name) }
    return Else.new(true) if values.any?(&:nil?)
    yield(*values)
    Else.new(false)
  end

  def render(text)
    ERB.new(text, trim_mode: '-').result(binding)
  end
end

begin
  print RenderContext.new(spec, manifest).render(File.read(File.join(job_dir, template)))
rescue StandardError => e
  warn "#{template}: #{e.message}"
  exit 1
end
